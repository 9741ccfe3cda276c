//! `DeliveryRepository`: the outbox, and the recording of the deliveries a merge request change or a retry
//! causes, inside the transaction of that change.
//!
//! A claim locks the rows it takes with `FOR UPDATE SKIP LOCKED` inside its transaction, then moves their due
//! time to the end of the lease: a claimer on another instance skips the rows being claimed instead of
//! waiting for them (or, as a plain read followed by an update would, claiming them too), and once the claim
//! committed no longer finds them due.

use crate::PgStore;
use crate::columns::{from_millis, from_millis_opt, millis};
use crate::error::{TxError, corrupt};
use crate::schema::{deliveries, external_status_checks as checks};
use async_trait::async_trait;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use status_checks_core::deliveries::{
    Attempt, Delivery, DeliveryDraft, DeliveryStatus, HookAction, NewDelivery,
};
use status_checks_core::merge_requests::MergeRequest;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{DeliveryRepository, DueDelivery, RepoResult};
use status_checks_core::status_checks::SharedSecret;
use status_checks_core::{
    DeliveryId, MergeRequestId, MergeRequestIid, ProjectId, RepoError, StatusCheckId, Timestamp,
};
use std::collections::HashMap;

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = deliveries, check_for_backend(Pg))]
struct DeliveryRow {
    id: i64,
    project_id: i64,
    external_status_check_id: i64,
    merge_request_id: i64,
    merge_request_iid: i64,
    action: Option<String>,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    last_attempt_at: Option<i64>,
    next_attempt_at: Option<i64>,
    idempotency_key: String,
    body: String,
    created_at: i64,
}

impl DeliveryRow {
    fn into_domain(self) -> Result<Delivery, RepoError> {
        let action = self
            .action
            .as_deref()
            .map(|a| HookAction::parse(a).ok_or_else(|| corrupt("hook action", a)))
            .transpose()?;
        Ok(Delivery {
            id: DeliveryId(self.id),
            project_id: ProjectId(self.project_id),
            external_status_check_id: StatusCheckId(self.external_status_check_id),
            merge_request_id: MergeRequestId(self.merge_request_id),
            merge_request_iid: MergeRequestIid(self.merge_request_iid),
            action,
            status: DeliveryStatus::parse(&self.status)
                .ok_or_else(|| corrupt("delivery status", &self.status))?,
            attempts: u32::try_from(self.attempts)
                .map_err(|_| corrupt("attempts", self.attempts))?,
            last_error: self.last_error,
            last_attempt_at: from_millis_opt(self.last_attempt_at)?,
            next_attempt_at: from_millis_opt(self.next_attempt_at)?,
            idempotency_key: self.idempotency_key,
            body: self.body,
            created_at: from_millis(self.created_at)?,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = deliveries)]
struct NewDeliveryRow<'a> {
    project_id: i64,
    external_status_check_id: i64,
    merge_request_id: i64,
    merge_request_iid: i64,
    action: Option<&'a str>,
    status: &'a str,
    next_attempt_at: Option<i64>,
    idempotency_key: &'a str,
    body: &'a str,
    created_at: i64,
}

impl<'a> NewDeliveryRow<'a> {
    /// Columns a row binds.
    const COLUMNS: usize = 10;

    fn of(new: &'a NewDelivery) -> Self {
        NewDeliveryRow {
            project_id: new.project_id.0,
            external_status_check_id: new.external_status_check_id.0,
            merge_request_id: new.merge_request_id.0,
            merge_request_iid: new.merge_request_iid.0,
            action: new.action.map(HookAction::as_str),
            status: DeliveryStatus::Pending.as_str(),
            next_attempt_at: Some(millis(new.created_at)),
            idempotency_key: &new.idempotency_key,
            body: &new.body,
            created_at: millis(new.created_at),
        }
    }
}

/// Most parameters PostgreSQL binds in one statement.
const MAX_PARAMETERS: usize = 65_535;

/// Renders each draft against the stored merge request and inserts the deliveries, notifying the other
/// instances' delivery workers when the transaction commits.
pub(crate) async fn record_deliveries(
    conn: &mut AsyncPgConnection,
    mr: &MergeRequest,
    drafts: &[DeliveryDraft],
) -> Result<(), TxError> {
    if drafts.is_empty() {
        return Ok(());
    }
    // A check deleted since the drafts were made takes its notifications with it (instead of failing the
    // change on the foreign key). The checks kept are locked against deletion (`FOR SHARE`) until the
    // change commits: one deleted by another writer in between would fail the insert.
    let wanted: Vec<i64> = drafts
        .iter()
        .map(|d| d.external_status_check_id.0)
        .collect();
    let existing: Vec<i64> = checks::table
        .filter(checks::project_id.eq(mr.project_id.0))
        .filter(checks::id.eq_any(&wanted))
        .select(checks::id)
        .for_share()
        .load::<i64>(conn)
        .await?;
    let rendered: Vec<_> = drafts
        .iter()
        .filter(|draft| existing.contains(&draft.external_status_check_id.0))
        .map(|draft| draft.render(mr))
        .collect();
    let rows: Vec<NewDeliveryRow<'_>> = rendered.iter().map(NewDeliveryRow::of).collect();
    for chunk in rows.chunks(MAX_PARAMETERS / NewDeliveryRow::COLUMNS) {
        diesel::insert_into(deliveries::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    if !rows.is_empty() {
        crate::listener::notify(conn, crate::listener::DELIVERIES_CHANNEL).await?;
    }
    Ok(())
}

/// `status = 'pending'` as a literal: PostgreSQL uses the partial index `deliveries_due` only for a query
/// whose condition it can prove implies the index's, which a bound parameter (in a prepared statement's
/// generic plan) does not.
fn pending() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql::<diesel::sql_types::Bool>("deliveries.status = 'pending'")
}

#[async_trait]
impl DeliveryRepository for PgStore {
    async fn list_deliveries(
        &self,
        project: ProjectId,
        check: StatusCheckId,
        request: PageRequest,
    ) -> RepoResult<Page<Delivery>> {
        run!(self, |conn| {
            let filtered = || {
                deliveries::table.filter(
                    deliveries::project_id
                        .eq(project.0)
                        .and(deliveries::external_status_check_id.eq(check.0)),
                )
            };
            page_of!(conn, request, filtered, deliveries::id.desc(), DeliveryRow)
        })
    }

    async fn list_merge_request_deliveries(
        &self,
        project: ProjectId,
        merge_request: MergeRequestId,
        request: PageRequest,
    ) -> RepoResult<Page<Delivery>> {
        run!(self, |conn| {
            let filtered = || {
                deliveries::table.filter(
                    deliveries::project_id
                        .eq(project.0)
                        .and(deliveries::merge_request_id.eq(merge_request.0)),
                )
            };
            page_of!(conn, request, filtered, deliveries::id.desc(), DeliveryRow)
        })
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        limit: u32,
        lease_until: Timestamp,
        except: Vec<StatusCheckId>,
    ) -> RepoResult<Vec<DueDelivery>> {
        let except: Vec<i64> = except.iter().map(|check| check.0).collect();
        write_tx!(self, |conn| {
            // Only the deliveries' rows are locked (a join would lock their checks' rows too, and make
            // claimers skip each other's deliveries to the same check).
            let mut due: Vec<DeliveryRow> = deliveries::table
                .filter(pending())
                .filter(deliveries::next_attempt_at.le(millis(now)))
                .filter(deliveries::external_status_check_id.ne_all(&except))
                .order((deliveries::next_attempt_at.asc(), deliveries::id.asc()))
                .limit(i64::from(limit))
                .select(DeliveryRow::as_select())
                .for_update()
                .skip_locked()
                .load(conn)
                .await?;
            if due.is_empty() {
                return Ok(Vec::new());
            }
            let ids: Vec<i64> = due.iter().map(|row| row.id).collect();
            diesel::update(deliveries::table.filter(deliveries::id.eq_any(&ids)))
                .set(deliveries::next_attempt_at.eq(millis(lease_until)))
                .execute(conn)
                .await?;
            let mut check_ids: Vec<i64> =
                due.iter().map(|row| row.external_status_check_id).collect();
            check_ids.sort_unstable();
            check_ids.dedup();
            let targets: HashMap<i64, (String, Option<String>)> = checks::table
                .filter(checks::id.eq_any(&check_ids))
                .select((checks::id, checks::external_url, checks::shared_secret))
                .load::<(i64, String, Option<String>)>(conn)
                .await?
                .into_iter()
                .map(|(id, url, secret)| (id, (url, secret)))
                .collect();
            let mut claimed = Vec::with_capacity(due.len());
            for mut row in due.drain(..) {
                // A delivery's check cannot be gone: deleting it deletes the delivery, which is locked.
                let Some((url, secret)) = targets.get(&row.external_status_check_id).cloned()
                else {
                    continue;
                };
                row.next_attempt_at = Some(millis(lease_until));
                let shared_secret = match secret.as_deref() {
                    Some(raw) => SharedSecret::parse(raw)
                        .map_err(|_| RepoError::Internal("corrupt shared secret".into()))?,
                    None => None,
                };
                claimed.push(DueDelivery {
                    delivery: row.into_domain()?,
                    url,
                    shared_secret,
                });
            }
            Ok(claimed)
        })
    }

    async fn release(
        &self,
        claims: Vec<(DeliveryId, Timestamp)>,
        due_at: Timestamp,
    ) -> RepoResult<()> {
        // Only those still held by the claim named; in id order, so that two releases lock alike.
        let mut claims: Vec<(i64, i64)> = claims
            .iter()
            .map(|(id, until)| (id.0, millis(*until)))
            .collect();
        claims.sort_unstable();
        write_tx!(self, |conn| {
            for (id, claimed_until) in &claims {
                diesel::update(
                    deliveries::table
                        .filter(deliveries::id.eq(*id))
                        .filter(pending())
                        .filter(deliveries::next_attempt_at.eq(*claimed_until)),
                )
                .set(deliveries::next_attempt_at.eq(millis(due_at)))
                .execute(conn)
                .await?;
            }
            Ok(())
        })
    }

    async fn record_attempts(&self, attempts: Vec<Attempt>) -> RepoResult<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        // In id order, so that two batches touching the same rows lock them in the same order.
        let mut settled: Vec<_> = attempts
            .into_iter()
            .map(|attempt| {
                let (status, retry_at, error) = attempt.outcome.settle();
                let claimed_until = millis(attempt.claimed_until);
                (
                    attempt.id.0,
                    claimed_until,
                    status,
                    attempt.at,
                    retry_at,
                    error,
                )
            })
            .collect();
        settled.sort_by_key(|(id, ..)| *id);
        write_tx!(self, |conn| {
            for (id, claimed_until, status, at, retry_at, error) in &settled {
                // Only while the delivery is still held by the claim it was sent under.
                diesel::update(
                    deliveries::table
                        .filter(deliveries::id.eq(*id))
                        .filter(pending())
                        .filter(deliveries::next_attempt_at.eq(*claimed_until)),
                )
                .set((
                    deliveries::status.eq(status.as_str()),
                    deliveries::attempts.eq(deliveries::attempts + 1),
                    deliveries::last_attempt_at.eq(millis(*at)),
                    deliveries::next_attempt_at.eq(retry_at.map(millis)),
                    deliveries::last_error.eq(error.as_deref()),
                ))
                .execute(conn)
                .await?;
            }
            Ok(())
        })
    }

    async fn prune_deliveries(&self, finished_before: Timestamp, limit: u32) -> RepoResult<u64> {
        run!(self, |conn| {
            // The status as a literal, for the partial index of finished deliveries.
            let deleted = diesel::sql_query(
                "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries \
                 WHERE status <> 'pending' AND last_attempt_at < $1 ORDER BY last_attempt_at LIMIT $2)",
            )
            .bind::<diesel::sql_types::BigInt, _>(millis(finished_before))
            .bind::<diesel::sql_types::BigInt, _>(i64::from(limit))
            .execute(conn)
            .await?;
            Ok(u64::try_from(deleted).unwrap_or(0))
        })
    }

    async fn oldest_due(&self, now: Timestamp) -> RepoResult<Option<Timestamp>> {
        run!(self, |conn| {
            let oldest: Option<i64> = deliveries::table
                .filter(pending())
                .filter(deliveries::next_attempt_at.le(millis(now)))
                .select(diesel::dsl::min(deliveries::next_attempt_at))
                .first(conn)
                .await?;
            Ok(from_millis_opt(oldest)?)
        })
    }

    async fn count_pending(&self) -> RepoResult<u64> {
        run!(self, |conn| {
            let n: i64 = deliveries::table
                .filter(pending())
                .count()
                .get_result(conn)
                .await?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}
