//! `DeliveryRepository`: the outbox, and the recording of the deliveries a merge request change or a retry
//! causes, inside the transaction of that change.

use super::IDS_PER_STATEMENT;
use crate::Store;
use crate::columns::{from_millis, from_millis_opt, millis};
use crate::error::{TxError, corrupt};
use crate::schema::{deliveries, external_status_checks as checks};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
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

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = deliveries, check_for_backend(Sqlite))]
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

/// Renders each draft against the stored merge request and inserts the deliveries.
pub(crate) fn record_deliveries(
    conn: &mut SqliteConnection,
    mr: &MergeRequest,
    drafts: &[DeliveryDraft],
) -> Result<(), TxError> {
    if drafts.is_empty() {
        return Ok(());
    }
    // A check deleted since the drafts were made takes its notifications with it (instead of failing the
    // change on the foreign key).
    let wanted: Vec<i64> = drafts
        .iter()
        .map(|d| d.external_status_check_id.0)
        .collect();
    let mut existing: Vec<i64> = Vec::new();
    for chunk in wanted.chunks(IDS_PER_STATEMENT) {
        existing.extend(
            checks::table
                .filter(checks::id.eq_any(chunk))
                .select(checks::id)
                .load::<i64>(conn)?,
        );
    }
    let rendered: Vec<_> = drafts
        .iter()
        .filter(|draft| existing.contains(&draft.external_status_check_id.0))
        .map(|draft| draft.render(mr))
        .collect();
    let rows: Vec<NewDeliveryRow<'_>> = rendered.iter().map(NewDeliveryRow::of).collect();
    // Ten columns a row: keep each statement's variables within the same bound.
    for chunk in rows.chunks(IDS_PER_STATEMENT / 10) {
        diesel::insert_into(deliveries::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
}

/// Records an attempt at delivery `id` made `at`: the status it leaves, when to try next (`None`: never
/// again), and its error.
fn record_attempt(
    conn: &mut SqliteConnection,
    (id, claimed_until): (DeliveryId, Timestamp),
    status: DeliveryStatus,
    at: Timestamp,
    next_attempt_at: Option<Timestamp>,
    error: Option<String>,
) -> Result<(), TxError> {
    // Only while the delivery is still held by the claim it was sent under.
    diesel::update(
        deliveries::table
            .find(id.0)
            .filter(pending())
            .filter(deliveries::next_attempt_at.eq(millis(claimed_until))),
    )
    .set((
        deliveries::status.eq(status.as_str()),
        deliveries::attempts.eq(deliveries::attempts + 1),
        deliveries::last_attempt_at.eq(millis(at)),
        deliveries::next_attempt_at.eq(next_attempt_at.map(millis)),
        deliveries::last_error.eq(error),
    ))
    .execute(conn)?;
    Ok(())
}

/// The most checks a claim skips.
const MAX_EXCEPT: usize = 10_000;

/// `status = 'pending'` as a literal: SQLite uses the partial indexes of migration 4 only for a query whose
/// condition names the status they were made for, which a bound parameter does not.
fn pending() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql::<diesel::sql_types::Bool>("deliveries.status = 'pending'")
}

/// The first `limit` pending deliveries due at `now` (milliseconds), oldest due first, but those to the
/// checks in `except`, with their check's URL and secret: read through the partial index of pending
/// deliveries, so that neither the delivered and dead rows kept nor a long list of busy checks slow it.
fn due_at<'a>(
    now: i64,
    limit: i64,
    except: &'a [i64],
) -> impl diesel::query_dsl::LoadQuery<'a, SqliteConnection, (DeliveryRow, String, Option<String>)>
+ diesel::query_builder::QueryFragment<Sqlite>
+ 'a {
    deliveries::table
        .inner_join(checks::table)
        .filter(pending())
        .filter(deliveries::next_attempt_at.le(now))
        .filter(deliveries::external_status_check_id.ne_all(except))
        .order((deliveries::next_attempt_at.asc(), deliveries::id.asc()))
        .limit(limit)
        .select((
            DeliveryRow::as_select(),
            checks::external_url,
            checks::shared_secret,
        ))
}

#[async_trait]
impl DeliveryRepository for Store {
    async fn list_deliveries(
        &self,
        project: ProjectId,
        check: StatusCheckId,
        request: PageRequest,
    ) -> RepoResult<Page<Delivery>> {
        self.connections
            .read(move |conn| {
                let filtered = || {
                    deliveries::table.filter(
                        deliveries::project_id
                            .eq(project.0)
                            .and(deliveries::external_status_check_id.eq(check.0)),
                    )
                };
                page_of!(conn, request, filtered, deliveries::id.desc(), DeliveryRow)
            })
            .await
    }

    async fn list_merge_request_deliveries(
        &self,
        project: ProjectId,
        merge_request: MergeRequestId,
        request: PageRequest,
    ) -> RepoResult<Page<Delivery>> {
        self.connections
            .read(move |conn| {
                let filtered = || {
                    deliveries::table.filter(
                        deliveries::project_id
                            .eq(project.0)
                            .and(deliveries::merge_request_id.eq(merge_request.0)),
                    )
                };
                page_of!(conn, request, filtered, deliveries::id.desc(), DeliveryRow)
            })
            .await
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        limit: u32,
        lease_until: Timestamp,
        except: Vec<StatusCheckId>,
    ) -> RepoResult<Vec<DueDelivery>> {
        // A longer list than a statement may bind (SQLite takes 32 766 variables) is cut: the sender then
        // claims some deliveries of busy checks, and gives them back.
        let except: Vec<i64> = except
            .iter()
            .take(MAX_EXCEPT)
            .map(|check| check.0)
            .collect();
        self.connections
            .write(move |conn| {
                let due = due_at(millis(now), i64::from(limit), &except).load::<(
                    DeliveryRow,
                    String,
                    Option<String>,
                )>(conn)?;
                let ids: Vec<i64> = due.iter().map(|(row, _, _)| row.id).collect();
                diesel::update(deliveries::table.filter(deliveries::id.eq_any(&ids)))
                    .set(deliveries::next_attempt_at.eq(millis(lease_until)))
                    .execute(conn)?;
                let mut claimed = Vec::with_capacity(due.len());
                for (mut row, url, secret) in due {
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
            .await
    }

    async fn release(
        &self,
        claims: Vec<(DeliveryId, Timestamp)>,
        due_at: Timestamp,
    ) -> RepoResult<()> {
        self.connections
            .write(move |conn| {
                // Only those still held by the claim named.
                for (id, claimed_until) in claims {
                    diesel::update(
                        deliveries::table
                            .find(id.0)
                            .filter(pending())
                            .filter(deliveries::next_attempt_at.eq(millis(claimed_until))),
                    )
                    .set(deliveries::next_attempt_at.eq(millis(due_at)))
                    .execute(conn)?;
                }
                Ok(())
            })
            .await
    }

    async fn record_attempts(&self, attempts: Vec<Attempt>) -> RepoResult<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        self.connections
            .write(move |conn| {
                for attempt in attempts {
                    let (status, retry_at, error) = attempt.outcome.settle();
                    record_attempt(
                        conn,
                        (attempt.id, attempt.claimed_until),
                        status,
                        attempt.at,
                        retry_at,
                        error,
                    )?;
                }
                Ok(())
            })
            .await
    }

    async fn prune_deliveries(&self, finished_before: Timestamp, limit: u32) -> RepoResult<u64> {
        self.connections
            .write(move |conn| {
                // The status as a literal, for the partial index of finished deliveries (migration 4).
                let deleted = diesel::sql_query(
                    "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries \
                     WHERE status <> 'pending' AND last_attempt_at < ? ORDER BY last_attempt_at LIMIT ?)",
                )
                .bind::<diesel::sql_types::BigInt, _>(millis(finished_before))
                .bind::<diesel::sql_types::BigInt, _>(i64::from(limit))
                .execute(conn)?;
                Ok(u64::try_from(deleted).unwrap_or(0))
            })
            .await
    }

    async fn oldest_due(&self, now: Timestamp) -> RepoResult<Option<Timestamp>> {
        self.connections
            .read(move |conn| {
                let oldest: Option<i64> = deliveries::table
                    .filter(pending())
                    .filter(deliveries::next_attempt_at.le(millis(now)))
                    .select(diesel::dsl::min(deliveries::next_attempt_at))
                    .first(conn)?;
                Ok(from_millis_opt(oldest)?)
            })
            .await
    }

    async fn count_pending(&self) -> RepoResult<u64> {
        self.connections
            .read(move |conn| {
                let n: i64 = deliveries::table
                    .filter(pending())
                    .count()
                    .get_result(conn)?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::due_at;
    use crate::statements::plans::plan_of;

    /// A claim reads the pending deliveries in claim order from their partial index: no scan of the delivered
    /// and dead rows, no sort, whatever the list of busy checks.
    #[test]
    fn a_claim_walks_the_partial_index_of_pending_deliveries() {
        let plan = plan_of(&due_at(1_700_000_000_000, 128, &[3, 5]));
        assert!(
            plan.first().is_some_and(|step| step
                .starts_with("SEARCH deliveries USING INDEX deliveries_due (next_attempt_at<?)")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }
}
