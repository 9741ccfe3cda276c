//! `ForgeRepository`: the forge bridge's rows — a project's link to its forge and when its next sync is due,
//! the keys of the webhook deliveries applied, what is kept about a mirrored merge request besides the merge
//! request itself, and the outbox of commit status posts with the state last posted at each target.
//!
//! A mirror write is one transaction: the delivery's key, the merge request change (through the same insert
//! and update as `merge_requests`), its details, the notifications recorded through `deliveries`, and the
//! status posts rendered against the merge request written. With several writers, what the SQLite adapter
//! decides by reading first is decided by the writes themselves: a key recorded meanwhile by another
//! instance makes the key's insert find a conflict (`Seen`), an iid taken meanwhile makes the merge
//! request's insert find one (`Raced`), and the merge request an update compares is locked (`FOR UPDATE`)
//! before its `updated_at` is compared; either refusal rolls back whatever the write did before it.
//!
//! The link's credentials are stored as given and read back as [`ForgeSecret`]s; no row holding them derives
//! `Debug`, and no error quotes them.

use crate::PgStore;
use crate::columns::{commit_sha, from_millis, from_millis_opt, millis};
use crate::error::{TxError, corrupt};
use crate::repos::deliveries::record_deliveries;
use crate::repos::merge_requests::{
    MergeRequestRow, apply_changes, insert_merge_request, load_merge_request, reserve_iid,
};
use crate::schema::{
    forge_deliveries_seen as seen, forge_links as links, forge_merge_requests as details,
    forge_posted_states as posted, forge_statuses as statuses, merge_requests as mrs, projects,
};
use async_trait::async_trait;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use status_checks_core::deliveries::DeliveryStatus;
use status_checks_core::forges::{
    ForgeKind, ForgeLink, ForgeSecret, ForgeStatus, HeadPipeline, MirrorChange, MirrorDetails,
    MirrorOutcome, MirrorWrite, NewForgeStatus, PostedKey, StatusAttempt, StatusDraft,
};
use status_checks_core::merge_requests::MergeRequest;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{ForgeRepository, RepoResult};
use status_checks_core::{
    ForgeStatusId, MergeRequestId, MergeRequestIid, ProjectId, RepoError, StatusCheckId, Timestamp,
    UserId,
};

/// A link's row, but when its sync is due (not part of the link). No `Debug`: it holds the credentials.
#[derive(Queryable, Selectable)]
#[diesel(table_name = links, check_for_backend(Pg))]
struct LinkRow {
    project_id: i64,
    forge: String,
    api_url: String,
    repository: String,
    token: String,
    webhook_secret: String,
    status_name: String,
    per_check_statuses: bool,
    author_id: i64,
    last_event_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl LinkRow {
    fn into_domain(self) -> Result<ForgeLink, RepoError> {
        Ok(ForgeLink {
            project_id: ProjectId(self.project_id),
            forge: ForgeKind::parse(&self.forge).ok_or_else(|| corrupt("forge", &self.forge))?,
            api_url: self.api_url,
            repository: self.repository,
            token: ForgeSecret::from_stored(self.token),
            webhook_secret: ForgeSecret::from_stored(self.webhook_secret),
            status_name: self.status_name,
            per_check_statuses: self.per_check_statuses,
            author_id: UserId(self.author_id),
            last_event_at: from_millis_opt(self.last_event_at)?,
            created_at: from_millis(self.created_at)?,
            updated_at: from_millis(self.updated_at)?,
        })
    }
}

/// A link to insert. No `Debug`: it holds the credentials.
#[derive(Insertable)]
#[diesel(table_name = links)]
struct NewLinkRow<'a> {
    project_id: i64,
    forge: &'a str,
    api_url: &'a str,
    repository: &'a str,
    token: &'a str,
    webhook_secret: &'a str,
    status_name: &'a str,
    per_check_statuses: bool,
    author_id: i64,
    last_event_at: Option<i64>,
    sync_due_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

/// A mirrored merge request's details; the pipeline's three columns are all set or all null.
#[derive(Queryable, Selectable, Insertable, Debug)]
#[diesel(table_name = details, check_for_backend(Pg))]
struct DetailsRow {
    project_id: i64,
    merge_request_id: i64,
    source_project: String,
    web_url: String,
    snapshot_at: i64,
    pipeline_id: Option<i64>,
    pipeline_sha: Option<String>,
    pipeline_merge_request_event: Option<bool>,
}

impl DetailsRow {
    fn of(mr: &MergeRequest, details: &MirrorDetails) -> Self {
        let pipeline = details.pipeline.as_ref();
        DetailsRow {
            project_id: mr.project_id.0,
            merge_request_id: mr.id.0,
            source_project: details.source_project.clone(),
            web_url: details.web_url.clone(),
            snapshot_at: millis(details.snapshot_at),
            pipeline_id: pipeline.map(|p| p.id),
            pipeline_sha: pipeline.map(|p| p.sha.as_str().to_owned()),
            pipeline_merge_request_event: pipeline.map(|p| p.merge_request_event),
        }
    }

    fn into_domain(self) -> Result<MirrorDetails, RepoError> {
        let pipeline = match (
            self.pipeline_id,
            self.pipeline_sha,
            self.pipeline_merge_request_event,
        ) {
            (Some(id), Some(sha), Some(merge_request_event)) => Some(HeadPipeline {
                id,
                sha: commit_sha(&sha)?,
                merge_request_event,
            }),
            (None, None, None) => None,
            partial => return Err(corrupt("pipeline", partial)),
        };
        Ok(MirrorDetails {
            source_project: self.source_project,
            web_url: self.web_url,
            snapshot_at: from_millis(self.snapshot_at)?,
            pipeline,
        })
    }
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = statuses, check_for_backend(Pg))]
struct StatusRow {
    id: i64,
    project_id: i64,
    merge_request_id: i64,
    merge_request_iid: i64,
    sha: String,
    context: String,
    external_status_check_id: Option<i64>,
    state: String,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    last_attempt_at: Option<i64>,
    next_attempt_at: Option<i64>,
    created_at: i64,
}

impl StatusRow {
    fn into_domain(self) -> Result<ForgeStatus, RepoError> {
        Ok(ForgeStatus {
            id: ForgeStatusId(self.id),
            project_id: ProjectId(self.project_id),
            merge_request_id: MergeRequestId(self.merge_request_id),
            merge_request_iid: MergeRequestIid(self.merge_request_iid),
            sha: commit_sha(&self.sha)?,
            context: self.context,
            external_status_check_id: self.external_status_check_id.map(StatusCheckId),
            state: self.state,
            status: DeliveryStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status post status", &self.status))?,
            attempts: u32::try_from(self.attempts)
                .map_err(|_| corrupt("attempts", self.attempts))?,
            last_error: self.last_error,
            last_attempt_at: from_millis_opt(self.last_attempt_at)?,
            next_attempt_at: from_millis_opt(self.next_attempt_at)?,
            created_at: from_millis(self.created_at)?,
        })
    }
}

/// A status post to insert: pending, due at its draft's time, no attempt yet.
#[derive(Insertable)]
#[diesel(table_name = statuses)]
struct NewStatusRow<'a> {
    project_id: i64,
    merge_request_id: i64,
    merge_request_iid: i64,
    sha: &'a str,
    context: &'a str,
    external_status_check_id: Option<i64>,
    state: &'a str,
    status: &'a str,
    next_attempt_at: Option<i64>,
    created_at: i64,
}

impl<'a> NewStatusRow<'a> {
    /// Columns a row binds.
    const COLUMNS: usize = 10;

    fn of(new: &'a NewForgeStatus) -> Self {
        NewStatusRow {
            project_id: new.project_id.0,
            merge_request_id: new.merge_request_id.0,
            merge_request_iid: new.merge_request_iid.0,
            sha: new.sha.as_str(),
            context: &new.draft.context,
            external_status_check_id: new.draft.external_status_check_id.map(|c| c.0),
            state: &new.draft.state,
            status: DeliveryStatus::Pending.as_str(),
            next_attempt_at: Some(millis(new.draft.due_at)),
            created_at: millis(new.created_at),
        }
    }
}

/// Most parameters PostgreSQL binds in one statement.
const MAX_PARAMETERS: usize = 65_535;

/// `status = 'pending'` as a literal: PostgreSQL uses the partial index `forge_statuses_due` only for a
/// query whose condition it can prove implies the index's, which a bound parameter does not.
fn pending() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql::<diesel::sql_types::Bool>("forge_statuses.status = 'pending'")
}

/// Inserts the status posts `drafts` about `mr`'s HEAD, scheduled at `at`, inside a write that holds the
/// merge request (an answer, a retry).
pub(crate) async fn insert_drafts(
    conn: &mut AsyncPgConnection,
    mr: &MergeRequest,
    drafts: Vec<StatusDraft>,
    at: Timestamp,
) -> Result<(), TxError> {
    let posts: Vec<NewForgeStatus> = drafts
        .into_iter()
        .map(|draft| NewForgeStatus {
            project_id: mr.project_id,
            merge_request_id: mr.id,
            merge_request_iid: mr.iid,
            sha: mr.sha.clone(),
            draft,
            created_at: at,
        })
        .collect();
    insert_statuses(conn, &posts).await
}

/// Inserts status posts as given (their merge requests are known to exist), and notifies the other
/// instances' reporters when the transaction commits.
async fn insert_statuses(
    conn: &mut AsyncPgConnection,
    new: &[NewForgeStatus],
) -> Result<(), TxError> {
    let rows: Vec<NewStatusRow<'_>> = new.iter().map(NewStatusRow::of).collect();
    for chunk in rows.chunks(MAX_PARAMETERS / NewStatusRow::COLUMNS) {
        diesel::insert_into(statuses::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    if !rows.is_empty() {
        crate::listener::notify(conn, crate::listener::STATUSES_CHANNEL).await?;
    }
    Ok(())
}

/// Inserts the status posts whose merge request still exists: one deleted since the posts were planned (with
/// its project) takes them with it, instead of failing the write on the foreign key. The merge requests kept
/// are locked against deletion (`FOR SHARE`) until the write commits.
async fn schedule(conn: &mut AsyncPgConnection, new: &[NewForgeStatus]) -> Result<(), TxError> {
    if new.is_empty() {
        return Ok(());
    }
    let mut wanted: Vec<i64> = new.iter().map(|s| s.merge_request_id.0).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut existing: Vec<i64> = mrs::table
        .filter(mrs::id.eq_any(&wanted))
        .select(mrs::id)
        .for_share()
        .load::<i64>(conn)
        .await?;
    existing.sort_unstable();
    let kept: Vec<NewForgeStatus> = new
        .iter()
        .filter(|s| existing.binary_search(&s.merge_request_id.0).is_ok())
        .cloned()
        .collect();
    insert_statuses(conn, &kept).await
}

/// The link of `project`, if any.
async fn link_of(conn: &mut AsyncPgConnection, project: i64) -> Result<Option<ForgeLink>, TxError> {
    let row = links::table
        .find(project)
        .select(LinkRow::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(LinkRow::into_domain).transpose()?)
}

/// Whether `write` is to be refused before anything is written: its key recorded before (`Seen`), its iid
/// taken or its merge request changed since it was read (`Raced`). The merge request an update compares is
/// locked until the transaction ends, so no other writer can change it between the comparison and the
/// write; a key or an iid taken by another writer after this check is found by the insert itself.
async fn refusal(
    conn: &mut AsyncPgConnection,
    write: &MirrorWrite,
) -> Result<Option<TxError>, TxError> {
    if let Some(key) = &write.delivery_key {
        let recorded: i64 = seen::table
            .filter(seen::project_id.eq(write.project_id.0))
            .filter(seen::delivery_key.eq(key))
            .count()
            .get_result(conn)
            .await?;
        if recorded > 0 {
            return Ok(Some(TxError::Seen));
        }
    }
    let raced = match &write.change {
        MirrorChange::Open { iid, new } => {
            let taken: i64 = mrs::table
                .filter(mrs::project_id.eq(new.project_id.0))
                .filter(mrs::iid.eq(iid.0))
                .count()
                .get_result(conn)
                .await?;
            taken > 0
        }
        MirrorChange::Update { id, read_at, .. } => {
            let updated_at: Option<i64> = mrs::table
                .filter(mrs::project_id.eq(write.project_id.0))
                .filter(mrs::id.eq(id.0))
                .select(mrs::updated_at)
                .for_update()
                .first(conn)
                .await
                .optional()?;
            // Gone is a change too: decided again, the write finds nothing to update.
            updated_at != Some(millis(*read_at))
        }
        MirrorChange::Nothing => false,
    };
    Ok(raced.then_some(TxError::Raced))
}

/// Applies a mirror write that [`refusal`] let through; `Err(Seen | Raced)` (rolling it back) when another
/// writer recorded the key or took the iid meanwhile.
async fn apply(
    conn: &mut AsyncPgConnection,
    write: &MirrorWrite,
) -> Result<MirrorOutcome, TxError> {
    if let Some(key) = &write.delivery_key {
        let recorded = diesel::insert_into(seen::table)
            .values((
                seen::project_id.eq(write.project_id.0),
                seen::delivery_key.eq(key),
                seen::received_at.eq(millis(write.received_at)),
            ))
            .on_conflict((seen::project_id, seen::delivery_key))
            .do_nothing()
            .execute(conn)
            .await?;
        if recorded == 0 {
            return Err(TxError::Seen);
        }
        diesel::update(links::table.find(write.project_id.0))
            .set(links::last_event_at.eq(millis(write.received_at)))
            .execute(conn)
            .await?;
    }
    let mr = match &write.change {
        MirrorChange::Open { iid, new } => {
            reserve_iid(conn, new.project_id, *iid).await?;
            insert_merge_request(conn, new, *iid)
                .await?
                .ok_or(TxError::Raced)?
        }
        MirrorChange::Update {
            id,
            changes: Some(changes),
            ..
        } => apply_changes(conn, *id, changes).await?,
        MirrorChange::Update {
            id, changes: None, ..
        } => load_merge_request(conn, id.0)
            .await?
            .ok_or(TxError::Repo(RepoError::NotFound))?,
        // No merge request to render against or attach details to: only the key is recorded.
        MirrorChange::Nothing => return Ok(MirrorOutcome::Applied(None)),
    };
    if let Some(kept) = &write.details {
        save_details(conn, &DetailsRow::of(&mr, kept)).await?;
    }
    record_deliveries(conn, &mr, &write.deliveries).await?;
    let posts: Vec<NewForgeStatus> = write
        .statuses
        .iter()
        .cloned()
        .map(|draft| NewForgeStatus {
            project_id: mr.project_id,
            merge_request_id: mr.id,
            merge_request_iid: mr.iid,
            sha: mr.sha.clone(),
            draft,
            created_at: write.received_at,
        })
        .collect();
    insert_statuses(conn, &posts).await?;
    Ok(MirrorOutcome::Applied(Some(Box::new(mr))))
}

/// Creates or replaces a mirrored merge request's details.
async fn save_details(conn: &mut AsyncPgConnection, row: &DetailsRow) -> Result<(), TxError> {
    diesel::insert_into(details::table)
        .values(row)
        .on_conflict((details::project_id, details::merge_request_id))
        .do_update()
        .set((
            details::source_project.eq(excluded(details::source_project)),
            details::web_url.eq(excluded(details::web_url)),
            details::snapshot_at.eq(excluded(details::snapshot_at)),
        ))
        .execute(conn)
        .await?;
    // A write without a pipeline keeps the one stored: a snapshot decided on an older read must not undo a
    // pipeline recorded meanwhile (a pipeline write does not move the merge request's `updated_at`).
    if row.pipeline_id.is_some() {
        diesel::update(
            details::table
                .filter(details::project_id.eq(row.project_id))
                .filter(details::merge_request_id.eq(row.merge_request_id)),
        )
        .set((
            details::pipeline_id.eq(row.pipeline_id),
            details::pipeline_sha.eq(&row.pipeline_sha),
            details::pipeline_merge_request_event.eq(row.pipeline_merge_request_event),
        ))
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Records one attempt at a status post inside the transaction of its batch.
async fn record_attempt(
    conn: &mut AsyncPgConnection,
    attempt: &StatusAttempt,
    key: Option<&PostedKey>,
) -> Result<(), TxError> {
    let (status, next_attempt_at, error) = attempt.outcome.clone().settle();
    // Only while the post is still held by the claim it was sent under (pending, due at that claim's lease
    // end: a later claim re-reads the row and moves it); a post deleted meanwhile (its link or project
    // deleted) is not recorded either.
    let recorded = diesel::update(
        statuses::table
            .filter(statuses::id.eq(attempt.id.0))
            .filter(pending())
            .filter(statuses::next_attempt_at.eq(millis(attempt.claimed_until))),
    )
    .set((
        statuses::status.eq(status.as_str()),
        statuses::state.eq(&attempt.state),
        statuses::attempts.eq(statuses::attempts + 1),
        statuses::last_attempt_at.eq(millis(attempt.at)),
        statuses::next_attempt_at.eq(next_attempt_at.map(millis)),
        statuses::last_error.eq(error),
    ))
    .execute(conn)
    .await?;
    if recorded == 0 {
        let exists: i64 = statuses::table
            .filter(statuses::id.eq(attempt.id.0))
            .count()
            .get_result(conn)
            .await?;
        if exists > 0 {
            // Claimed again since by another reporter, whose outcome counts: nothing of this one does.
            return Ok(());
        }
    }
    if let Some(key) = key {
        // What the forge shows is recorded while the project exists, whatever became of the post: the
        // project is locked against deletion (`FOR SHARE`) until the batch commits.
        let project: Option<i64> = projects::table
            .find(key.project_id.0)
            .select(projects::id)
            .for_share()
            .first(conn)
            .await
            .optional()?;
        if project.is_some() {
            diesel::insert_into(posted::table)
                .values((
                    posted::project_id.eq(key.project_id.0),
                    posted::sha.eq(key.sha.as_str()),
                    posted::context.eq(&key.context),
                    posted::target.eq(&key.target),
                    posted::state.eq(&attempt.state),
                    posted::posted_at.eq(millis(attempt.at)),
                ))
                .on_conflict((
                    posted::project_id,
                    posted::sha,
                    posted::context,
                    posted::target,
                ))
                .do_update()
                .set((
                    posted::state.eq(excluded(posted::state)),
                    posted::posted_at.eq(excluded(posted::posted_at)),
                ))
                .execute(conn)
                .await?;
        }
    }
    schedule(conn, &attempt.follow_up).await
}

#[async_trait]
impl ForgeRepository for PgStore {
    async fn find_link(&self, project: ProjectId) -> RepoResult<Option<ForgeLink>> {
        run!(self, |conn| link_of(conn, project.0).await)
    }

    async fn save_link(&self, link: ForgeLink, sync: bool) -> RepoResult<ForgeLink> {
        write_tx!(self, |conn| {
            let updated_at = millis(link.updated_at);
            let sync_due_at = sync.then_some(updated_at);
            let row = NewLinkRow {
                project_id: link.project_id.0,
                forge: link.forge.as_str(),
                api_url: &link.api_url,
                repository: &link.repository,
                token: link.token.expose(),
                webhook_secret: link.webhook_secret.expose(),
                status_name: &link.status_name,
                per_check_statuses: link.per_check_statuses,
                author_id: link.author_id.0,
                last_event_at: link.last_event_at.map(millis),
                sync_due_at,
                created_at: millis(link.created_at),
                updated_at,
            };
            // A replaced link keeps when it was created and when its last event was applied (a delivery
            // applied since the caller read the link must not be forgotten), and a sync still due.
            // A missing project fails the foreign key: `NotFound`.
            diesel::insert_into(links::table)
                .values(&row)
                .on_conflict(links::project_id)
                .do_update()
                .set((
                    links::forge.eq(excluded(links::forge)),
                    links::api_url.eq(excluded(links::api_url)),
                    links::repository.eq(excluded(links::repository)),
                    links::token.eq(excluded(links::token)),
                    links::webhook_secret.eq(excluded(links::webhook_secret)),
                    links::status_name.eq(excluded(links::status_name)),
                    links::per_check_statuses.eq(excluded(links::per_check_statuses)),
                    links::author_id.eq(excluded(links::author_id)),
                    links::updated_at.eq(excluded(links::updated_at)),
                ))
                .execute(conn)
                .await?;
            if let Some(due) = sync_due_at {
                diesel::update(links::table.find(link.project_id.0))
                    .set(links::sync_due_at.eq(due))
                    .execute(conn)
                    .await?;
                // A new or moved link starts with nothing known to be shown on its forge.
                diesel::delete(posted::table.filter(posted::project_id.eq(link.project_id.0)))
                    .execute(conn)
                    .await?;
            }
            link_of(conn, link.project_id.0)
                .await?
                .ok_or(TxError::Repo(RepoError::NotFound))
        })
    }

    async fn delete_link(&self, project: ProjectId) -> RepoResult<bool> {
        write_tx!(self, |conn| {
            let deleted = diesel::delete(links::table.find(project.0))
                .execute(conn)
                .await?;
            diesel::delete(posted::table.filter(posted::project_id.eq(project.0)))
                .execute(conn)
                .await?;
            diesel::delete(
                statuses::table
                    .filter(statuses::project_id.eq(project.0))
                    .filter(pending()),
            )
            .execute(conn)
            .await?;
            Ok(deleted > 0)
        })
    }

    async fn request_sync(&self, project: ProjectId, at: Timestamp) -> RepoResult<bool> {
        run!(self, |conn| {
            let updated = diesel::update(links::table.find(project.0))
                .set(links::sync_due_at.eq(millis(at)))
                .execute(conn)
                .await?;
            Ok(updated > 0)
        })
    }

    async fn claim_sync(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> RepoResult<Option<ForgeLink>> {
        write_tx!(self, |conn| {
            // A link being claimed by another instance is skipped, not waited for.
            let Some(row) = links::table
                .filter(links::sync_due_at.le(millis(now)))
                .order((links::sync_due_at.asc(), links::project_id.asc()))
                .limit(1)
                .select(LinkRow::as_select())
                .for_update()
                .skip_locked()
                .first::<LinkRow>(conn)
                .await
                .optional()?
            else {
                return Ok(None);
            };
            diesel::update(links::table.find(row.project_id))
                .set(links::sync_due_at.eq(millis(lease_until)))
                .execute(conn)
                .await?;
            Ok(Some(row.into_domain()?))
        })
    }

    async fn finish_sync(
        &self,
        project: ProjectId,
        claimed_until: Timestamp,
        retry_at: Option<Timestamp>,
    ) -> RepoResult<()> {
        run!(self, |conn| {
            // A sync requested during this one moved the due time: it stays due.
            diesel::update(
                links::table
                    .filter(links::project_id.eq(project.0))
                    .filter(links::sync_due_at.eq(millis(claimed_until))),
            )
            .set(links::sync_due_at.eq(retry_at.map(millis)))
            .execute(conn)
            .await?;
            Ok(())
        })
    }

    async fn find_mirrored(
        &self,
        project: ProjectId,
        iid: MergeRequestIid,
    ) -> RepoResult<Option<(MergeRequest, Option<MirrorDetails>)>> {
        run!(self, |conn| {
            // One statement: the merge request and its details as of the same moment.
            let found = mrs::table
                .left_join(
                    details::table.on(details::project_id
                        .eq(mrs::project_id)
                        .and(details::merge_request_id.eq(mrs::id))),
                )
                .filter(mrs::project_id.eq(project.0).and(mrs::iid.eq(iid.0)))
                .select((
                    MergeRequestRow::as_select(),
                    Option::<DetailsRow>::as_select(),
                ))
                .first::<(MergeRequestRow, Option<DetailsRow>)>(conn)
                .await
                .optional()?;
            let Some((mr, kept)) = found else {
                return Ok(None);
            };
            Ok(Some((
                mr.into_domain()?,
                kept.map(DetailsRow::into_domain).transpose()?,
            )))
        })
    }

    async fn apply_mirror(&self, write: MirrorWrite) -> RepoResult<MirrorOutcome> {
        let (records, posts) = (!write.deliveries.is_empty(), !write.statuses.is_empty());
        let outcome = transaction!(self, |conn| {
            match refusal(conn, &write).await? {
                Some(refused) => Err(refused),
                None => apply(conn, &write).await,
            }
        });
        match outcome {
            Ok(outcome) => {
                let applied = matches!(outcome, MirrorOutcome::Applied(_));
                let outcome = self.recorded_if(records && applied, Ok(outcome));
                self.scheduled_if(posts && applied, outcome)
            }
            Err(TxError::Seen) => Ok(MirrorOutcome::Seen),
            Err(TxError::Raced) => Ok(MirrorOutcome::Raced),
            Err(e) => Err(e.into()),
        }
    }

    async fn schedule_statuses(&self, new: Vec<NewForgeStatus>) -> RepoResult<()> {
        if new.is_empty() {
            return Ok(());
        }
        let scheduled = write_tx!(self, |conn| schedule(conn, &new).await);
        self.scheduled_if(true, scheduled)
    }

    async fn list_forge_statuses(
        &self,
        project: ProjectId,
        request: PageRequest,
    ) -> RepoResult<Page<ForgeStatus>> {
        run!(self, |conn| {
            let filtered = || statuses::table.filter(statuses::project_id.eq(project.0));
            page_of!(conn, request, filtered, statuses::id.desc(), StatusRow)
        })
    }

    async fn list_merge_request_statuses(
        &self,
        project: ProjectId,
        merge_request: MergeRequestId,
        request: PageRequest,
    ) -> RepoResult<Page<ForgeStatus>> {
        run!(self, |conn| {
            let filtered = || {
                statuses::table.filter(
                    statuses::project_id
                        .eq(project.0)
                        .and(statuses::merge_request_id.eq(merge_request.0)),
                )
            };
            page_of!(conn, request, filtered, statuses::id.desc(), StatusRow)
        })
    }

    async fn claim_due_statuses(
        &self,
        now: Timestamp,
        limit: u32,
        lease_until: Timestamp,
    ) -> RepoResult<Vec<ForgeStatus>> {
        write_tx!(self, |conn| {
            // Posts being claimed by another instance are skipped, not waited for.
            let due: Vec<StatusRow> = statuses::table
                .filter(pending())
                .filter(statuses::next_attempt_at.le(millis(now)))
                .order((statuses::next_attempt_at.asc(), statuses::id.asc()))
                .limit(i64::from(limit))
                .select(StatusRow::as_select())
                .for_update()
                .skip_locked()
                .load(conn)
                .await?;
            if due.is_empty() {
                return Ok(Vec::new());
            }
            let ids: Vec<i64> = due.iter().map(|row| row.id).collect();
            diesel::update(statuses::table.filter(statuses::id.eq_any(&ids)))
                .set(statuses::next_attempt_at.eq(millis(lease_until)))
                .execute(conn)
                .await?;
            let claimed = due
                .into_iter()
                .map(|mut row| {
                    row.next_attempt_at = Some(millis(lease_until));
                    row.into_domain()
                })
                .collect::<Result<_, _>>()?;
            Ok(claimed)
        })
    }

    async fn last_posted(&self, key: PostedKey) -> RepoResult<Option<String>> {
        run!(self, |conn| {
            Ok(posted::table
                .find((
                    key.project_id.0,
                    key.sha.as_str(),
                    key.context.as_str(),
                    key.target.as_str(),
                ))
                .select(posted::state)
                .first::<String>(conn)
                .await
                .optional()?)
        })
    }

    async fn prune_forge_rows(&self, before: Timestamp, limit: u32) -> RepoResult<u64> {
        let (before, limit) = (millis(before), i64::from(limit));
        write_tx!(self, |conn| {
            let finished: Vec<i64> = statuses::table
                .filter(diesel::dsl::not(pending()))
                .filter(statuses::last_attempt_at.lt(before))
                .order(statuses::last_attempt_at.asc())
                .limit(limit)
                .select(statuses::id)
                .load(conn)
                .await?;
            let mut deleted =
                diesel::delete(statuses::table.filter(statuses::id.eq_any(&finished)))
                    .execute(conn)
                    .await?;
            let keys: Vec<(i64, String)> = seen::table
                .filter(seen::received_at.lt(before))
                .order(seen::received_at.asc())
                .limit(limit)
                .select((seen::project_id, seen::delivery_key))
                .load(conn)
                .await?;
            for (project, key) in keys {
                deleted += diesel::delete(
                    seen::table
                        .filter(seen::project_id.eq(project))
                        .filter(seen::delivery_key.eq(key)),
                )
                .execute(conn)
                .await?;
            }
            let shown: Vec<(i64, String, String, String)> = posted::table
                .filter(posted::posted_at.lt(before))
                .order(posted::posted_at.asc())
                .limit(limit)
                .select((
                    posted::project_id,
                    posted::sha,
                    posted::context,
                    posted::target,
                ))
                .load(conn)
                .await?;
            for (project, sha, context, target) in shown {
                deleted += diesel::delete(posted::table.find((project, sha, context, target)))
                    .execute(conn)
                    .await?;
            }
            Ok(u64::try_from(deleted).unwrap_or(0))
        })
    }

    async fn record_status_attempts(
        &self,
        attempts: Vec<(StatusAttempt, Option<PostedKey>)>,
    ) -> RepoResult<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        let follows = attempts.iter().any(|(a, _)| !a.follow_up.is_empty());
        let recorded = write_tx!(self, |conn| {
            for (attempt, key) in &attempts {
                record_attempt(conn, attempt, key.as_ref()).await?;
            }
            Ok(())
        });
        self.scheduled_if(follows, recorded)
    }
}
