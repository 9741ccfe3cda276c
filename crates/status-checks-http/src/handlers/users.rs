//! Users: listed and read by anyone with a token, created and deleted by administrators (`docs/api.md` §3,
//! Users).

use super::{Answer, created, no_content, ok};
use crate::params::{Params, checked};
use crate::paths::{ApiPath, UserPath};
use crate::request::Call;
use crate::views::UserJson;
use status_checks_core::ParamErrors;
use status_checks_core::users::NewUserInput;

/// `GET /users` (`username=` filters).
pub(crate) async fn list_users(call: Call) -> Answer {
    let page = call.page_request()?;
    let mut errors = ParamErrors::new();
    let username = call.params.optional_string("username", &mut errors);
    let username = checked(errors, || Some(username))?;
    let users = call
        .service()
        .list_users(&call.actor, username, page)
        .await?;
    Ok(call.paginated(users, |u| UserJson::of(u, call.base_url())))
}

/// `GET /users/:id`.
pub(crate) async fn get_user(ApiPath(path): ApiPath<UserPath>, call: Call) -> Answer {
    let id = path.user?;
    let view = call.service().get_user(&call.actor, id).await?;
    Ok(ok(UserJson::of(view, call.base_url())))
}

fn new_user(p: &Params) -> Result<NewUserInput, ParamErrors> {
    let mut errors = ParamErrors::new();
    let username = p.required_string("username", &mut errors);
    let name = p.optional_string("name", &mut errors);
    let email = p.optional_string("email", &mut errors);
    let admin = p.optional_bool("admin", &mut errors).unwrap_or(false);
    checked(errors, || {
        Some(NewUserInput {
            username: username?,
            name,
            email,
            admin,
        })
    })
}

/// `POST /users` (administrators).
pub(crate) async fn create_user(call: Call) -> Answer {
    let input = new_user(&call.params);
    let user = call.service().create_user(&call.actor, input).await?;
    Ok(created(UserJson::of(
        status_checks_core::service::UserView {
            user,
            show_private: true,
        },
        call.base_url(),
    )))
}

/// `DELETE /users/:id` (administrators).
pub(crate) async fn delete_user(ApiPath(path): ApiPath<UserPath>, call: Call) -> Answer {
    let id = path.user?;
    call.service().delete_user(&call.actor, id).await?;
    Ok(no_content())
}
