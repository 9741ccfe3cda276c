//! Contract of the forge bridge's port (`ForgeRepository`): a project's link (credentials kept as given), the
//! sync schedule under a lease, mirror writes applied whole or not at all (a replayed delivery is `Seen`, a
//! write decided on a stale read is `Raced`), and the outbox of status posts with the state last posted.
//!
//! One file per area over the helpers here: `links` (links and their syncs), `mirror` (mirror writes),
//! `statuses` (the status outbox) and `retention` (the forge rows deleted with their project, or pruned by
//! age).

mod links;
mod mirror;
mod retention;
mod statuses;

pub use links::{
    forge_link_changes_forget_posted_states, forge_links_round_trip,
    forge_syncs_are_claimed_under_a_lease,
};
pub use mirror::forge_mirror_writes;
pub use retention::{deleting_a_project_removes_its_forge_rows, forge_rows_are_pruned_by_age};
pub use statuses::{forge_status_attempts_only_by_the_claim_holder, forge_status_outbox};

use super::fixtures::*;
use crate::Timestamp;
use crate::deliveries::AttemptOutcome;
use crate::forges::{
    ForgeKind, ForgeLink, ForgeSecret, ForgeStatus, MirrorChange, MirrorDetails, MirrorOutcome,
    MirrorWrite, NewForgeStatus, PostedKey, StatusAttempt, StatusDraft,
};
use crate::ids::*;
use crate::merge_requests::{MergeRequest, NewMergeRequest};
use crate::pagination::Page;
use crate::projects::Project;
use crate::service::Ports;
use crate::users::User;

/// A GitLab link of `project` by `author`, created and updated `second` seconds in.
fn link(project: &Project, author: &User, second: i64) -> ForgeLink {
    ForgeLink {
        project_id: project.id,
        forge: ForgeKind::Gitlab,
        api_url: "https://gitlab.example.com/api/v4".into(),
        repository: "grp/proj".into(),
        token: secret(ForgeSecret::token("glpat-0123456789abcdef")),
        webhook_secret: secret(ForgeSecret::webhook_secret("webhook-secret-0123")),
        status_name: "status-checks".into(),
        per_check_statuses: true,
        author_id: author.id,
        last_event_at: None,
        created_at: at(second),
        updated_at: at(second),
    }
}

fn secret(made: Result<ForgeSecret, &'static str>) -> ForgeSecret {
    made.unwrap_or_else(|e| panic!("{e}"))
}

/// A mirror write of `change` to `project`, arriving `second` seconds in, with nothing else.
fn write(project: &Project, key: Option<&str>, second: i64, change: MirrorChange) -> MirrorWrite {
    MirrorWrite {
        project_id: project.id,
        delivery_key: key.map(str::to_owned),
        received_at: at(second),
        change,
        details: None,
        deliveries: Vec::new(),
        statuses: Vec::new(),
    }
}

/// Opens a merge request numbered `iid` (HEAD `c`, 10 s in).
fn open_change(project: &Project, author: &User, iid: i64) -> MirrorChange {
    MirrorChange::Open {
        iid: MergeRequestIid(iid),
        new: NewMergeRequest {
            project_id: project.id,
            title: "Mirrored".into(),
            description: "From the forge".into(),
            source_branch: "feature".into(),
            target_branch: "main".into(),
            sha: sha('c'),
            author_id: author.id,
            created_at: at(10),
        },
    }
}

fn status_draft(context: &str, check: Option<StatusCheckId>, due: i64) -> StatusDraft {
    StatusDraft {
        context: context.into(),
        external_status_check_id: check,
        state: "pending".into(),
        due_at: at(due),
    }
}

/// A post of `context` about `mr`'s HEAD, due `due` seconds in, scheduled 4 s in.
fn post(mr: &MergeRequest, context: &str, due: i64) -> NewForgeStatus {
    NewForgeStatus {
        project_id: mr.project_id,
        merge_request_id: mr.id,
        merge_request_iid: mr.iid,
        sha: mr.sha.clone(),
        draft: status_draft(context, None, due),
        created_at: at(4),
    }
}

fn posted_key(mr: &MergeRequest, context: &str, target: &str) -> PostedKey {
    PostedKey {
        project_id: mr.project_id,
        sha: mr.sha.clone(),
        context: context.into(),
        target: target.into(),
    }
}

/// An attempt at the claimed `status` ended `second` seconds in, under the claim it was read with, sending
/// its planned state, with no follow-up.
fn attempt(status: &ForgeStatus, second: i64, outcome: AttemptOutcome) -> StatusAttempt {
    StatusAttempt {
        id: status.id,
        claimed_until: status
            .next_attempt_at
            .unwrap_or_else(|| panic!("a claimed post is due at the end of its lease: {status:?}")),
        at: at(second),
        state: status.state.clone(),
        outcome,
        follow_up: Vec::new(),
    }
}

fn contexts(statuses: &[ForgeStatus]) -> Vec<&str> {
    statuses.iter().map(|s| s.context.as_str()).collect()
}

async fn find_link(ports: &Ports, project: &Project, what: &str) -> Option<ForgeLink> {
    ok(ports.forges.find_link(project.id).await, what)
}

async fn claim_sync(
    ports: &Ports,
    now: Timestamp,
    lease: Timestamp,
    what: &str,
) -> Option<ForgeLink> {
    ok(ports.forges.claim_sync(now, lease).await, what)
}

async fn mirrored(
    ports: &Ports,
    project: &Project,
    iid: MergeRequestIid,
    what: &str,
) -> Option<(MergeRequest, Option<MirrorDetails>)> {
    ok(ports.forges.find_mirrored(project.id, iid).await, what)
}

/// Applies `write`, which must be applied with a merge request.
async fn applied(ports: &Ports, write: MirrorWrite, what: &str) -> MergeRequest {
    match ok(ports.forges.apply_mirror(write).await, what) {
        MirrorOutcome::Applied(Some(mr)) => *mr,
        other => panic!("{what}: {other:?}"),
    }
}

async fn schedule(ports: &Ports, statuses: Vec<NewForgeStatus>) {
    ok(ports.forges.schedule_statuses(statuses).await, "schedule");
}

async fn statuses_of(ports: &Ports, project: &Project, what: &str) -> Page<ForgeStatus> {
    ok(
        ports
            .forges
            .list_forge_statuses(project.id, page(1, 20))
            .await,
        what,
    )
}

async fn claim_statuses(
    ports: &Ports,
    now: Timestamp,
    limit: u32,
    lease: Timestamp,
    what: &str,
) -> Vec<ForgeStatus> {
    ok(
        ports.forges.claim_due_statuses(now, limit, lease).await,
        what,
    )
}

async fn record_attempt(ports: &Ports, attempt: StatusAttempt, posted: Option<PostedKey>) {
    ok(
        ports
            .forges
            .record_status_attempts(vec![(attempt, posted)])
            .await,
        "record an attempt",
    );
}

async fn last_posted(ports: &Ports, key: &PostedKey, what: &str) -> Option<String> {
    ok(ports.forges.last_posted(key.clone()).await, what)
}
