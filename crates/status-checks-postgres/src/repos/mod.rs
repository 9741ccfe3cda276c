//! The port implementations, one module per concept, named as in the core, the HTTP layer and the SQLite
//! adapter, each with the rows it reads and writes. Shared here: how a port runs its statements ([`run!`]
//! on a pooled connection, [`write_tx!`] in one transaction retried on a serialization failure or deadlock),
//! the body of a list port ([`page_of!`]), and `lower()`.
//!
//! Every write runs at READ COMMITTED, PostgreSQL's default. Where the SQLite adapter relies on being the
//! only writer, the statements here take the row locks that make several writers safe: the project row
//! (`FOR UPDATE`, or the iid counter's `UPDATE`) before a member change or a merge request's iid, `FOR
//! UPDATE SKIP LOCKED` on the rows an outbox claim takes, `FOR UPDATE` on a merge request a mirror write
//! compares before changing.

/// Runs `$body`, an expression of type `Result<T, TxError>` over `$conn: &mut AsyncPgConnection`, on a
/// connection from the pool, outside any transaction (a single statement, or reads that need no common
/// snapshot); evaluates to a `RepoResult<T>`. Use inside a function returning `RepoResult`: a pool error
/// returns early.
macro_rules! run {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let mut pooled = $store.connection().await?;
        let $conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
        let result: Result<_, $crate::error::TxError> = async { $body }.await;
        result.map_err(status_checks_core::RepoError::from)
    }};
}

/// Runs `$body`, an expression of type `Result<T, TxError>` over `$conn: &mut AsyncPgConnection`, in one
/// transaction, and again (up to [`MAX_ATTEMPTS`](crate::repos::MAX_ATTEMPTS) in all, after a short pause)
/// when PostgreSQL rolled it back on a serialization failure or a deadlock; evaluates to a
/// `Result<T, TxError>`. The body is run anew on each attempt, so it must not move what it captures.
macro_rules! transaction {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let mut attempt: u32 = 1;
        loop {
            let mut pooled = match $store.connection().await {
                Ok(pooled) => pooled,
                Err(e) => break Err($crate::error::TxError::Repo(e)),
            };
            let result = diesel_async::AsyncConnection::transaction::<_, $crate::error::TxError, _>(
                &mut *pooled,
                async |$conn| $body,
            )
            .await;
            match result {
                Err($crate::error::TxError::Diesel(e))
                    if $crate::is_retryable(&e) && attempt < $crate::repos::MAX_ATTEMPTS =>
                {
                    tracing::debug!(attempt, error = %e, "transaction rolled back by PostgreSQL, running it again");
                    drop(pooled);
                    tokio::time::sleep($crate::repos::backoff(attempt)).await;
                    attempt += 1;
                }
                other => break other,
            }
        }
    }};
}

/// [`transaction!`] whose error is the core's: evaluates to a `RepoResult<T>`.
macro_rules! write_tx {
    ($store:expr, |$conn:ident| $body:expr) => {
        transaction!($store, |$conn| $body).map_err(status_checks_core::RepoError::from)
    };
}

/// The body of a list port: the count of all that the closure `$filtered` selects and the page `$request`
/// asks for, in `$order`, read as `$row`s and converted with `$row::into_domain`; evaluates to a
/// `Result<Page<_>, TxError>`. A macro because the statements' diesel types differ with each table and
/// filter.
macro_rules! page_of {
    ($conn:ident, $request:expr, $filtered:ident, $order:expr, $row:ty) => {{
        let (limit, offset) = $crate::repos::limit_offset($request);
        let total: i64 = $filtered().count().get_result($conn).await?;
        let rows: Vec<$row> = $filtered()
            .order($order)
            .limit(limit)
            .offset(offset)
            .select(<$row>::as_select())
            .load($conn)
            .await?;
        let items = rows
            .into_iter()
            .map(<$row>::into_domain)
            .collect::<Result<_, _>>()?;
        Ok($crate::repos::page(items, total, $request))
    }};
}

pub(crate) mod deliveries;
pub(crate) mod forges;
mod members;
pub(crate) mod merge_requests;
mod projects;
pub(crate) mod protected_branches;
pub(crate) mod status_checks;
mod tokens;
pub(crate) mod users;

use status_checks_core::pagination::{Page, PageRequest};
use std::time::Duration;

diesel::define_sql_function! {
    /// PostgreSQL's `lower()`: usernames and project paths are compared through it, which the unique
    /// indexes `users_username_lower` and `projects_path_lower` serve.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// How many times a transaction is run when PostgreSQL keeps rolling it back on a serialization failure or
/// a deadlock; the last failure is then answered as an internal error.
pub(crate) const MAX_ATTEMPTS: u32 = 5;

/// The pause before attempt `attempt + 1`: 5, 10, 20, 40 ms, spread by the time of day so that the
/// transactions that collided do not collide again in step.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = 5_u64 << attempt.saturating_sub(1).min(6);
    let spread = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_micros()) % (base * 1000))
        .unwrap_or(0);
    Duration::from_micros(base * 1000 + spread)
}

/// `LIMIT` and `OFFSET` of a page.
pub(crate) fn limit_offset(request: PageRequest) -> (i64, i64) {
    let limit = i64::try_from(request.limit()).unwrap_or(i64::MAX);
    let offset = i64::try_from(request.offset()).unwrap_or(i64::MAX);
    (limit, offset)
}

/// A page from its rows and the total count.
pub(crate) fn page<T>(items: Vec<T>, total: i64, request: PageRequest) -> Page<T> {
    Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        request,
    }
}
