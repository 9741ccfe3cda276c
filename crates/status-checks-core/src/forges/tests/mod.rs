//! The forge use cases against mocked ports, by subject: the link's rules and role matrix (`links.rs`), what
//! a delivery writes (`deliveries.rs`), and what answers schedule and what a due status post says at send
//! time (`reporting.rs`). This file holds the fixture they share: the link.

use crate::forges::*;
use crate::service::fixtures::*;

mod deliveries;
mod links;
mod reporting;

fn link() -> ForgeLink {
    ForgeLink {
        project_id: ProjectId(5),
        forge: ForgeKind::Gitlab,
        api_url: "https://gitlab.example.com/api/v4".into(),
        repository: "77".into(),
        token: ForgeSecret::from_stored("glpat-forge-token".into()),
        webhook_secret: ForgeSecret::from_stored("a-webhook-secret-123".into()),
        status_name: "status-checks".into(),
        per_check_statuses: true,
        author_id: UserId(1),
        last_event_at: None,
        created_at: t0(),
        updated_at: t0(),
    }
}
