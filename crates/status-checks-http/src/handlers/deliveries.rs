//! The deliveries of a check's notifications, for operators to see what was sent and what failed
//! (`docs/api.md` §3, Deliveries).

use super::Answer;
use crate::paths::{ApiPath, StatusCheckPath};
use crate::request::Call;
use crate::views::DeliveryJson;

/// `GET /projects/:id/external_status_checks/:check_id/deliveries`, newest first.
pub(crate) async fn list_deliveries(ApiPath(path): ApiPath<StatusCheckPath>, call: Call) -> Answer {
    let id = path.check_id?;
    let page = call.page_request()?;
    let deliveries = call
        .service()
        .list_deliveries(&call.actor, &path.project, id, page)
        .await?;
    Ok(call.paginated(deliveries, DeliveryJson::of))
}
