//! The port implementations, one module per concept, named as in the core and the HTTP layer, each with the
//! rows it reads and writes. Shared here: the id of an inserted row, the bound on values per statement, and
//! the body of a list port ([`page_of!`]).

/// The body of a list port: the count of all that the closure `$filtered` selects and the page `$request`
/// asks for, in `$order`, read as `$row`s and converted with `$row::into_domain`; a `?` returns a failed
/// statement's error. A macro because the statements' diesel types differ with each table and filter.
macro_rules! page_of {
    ($conn:ident, $request:expr, $filtered:ident, $order:expr, $row:ty) => {{
        let (limit, offset) = $crate::repos::limit_offset($request);
        let total: i64 = $filtered().count().get_result($conn)?;
        let rows: Vec<$row> = $filtered()
            .order($order)
            .limit(limit)
            .offset(offset)
            .select(<$row>::as_select())
            .load($conn)?;
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
mod merge_requests;
mod projects;
pub(crate) mod protected_branches;
mod status_checks;
mod tokens;
pub(crate) mod users;

use diesel::prelude::*;
use status_checks_core::pagination::{Page, PageRequest};

diesel::define_sql_function! {
    /// The rowid of the last row this connection inserted.
    fn last_insert_rowid() -> diesel::sql_types::BigInt;
}

/// The id of the row just inserted on this connection.
pub(crate) fn inserted_id(conn: &mut SqliteConnection) -> QueryResult<i64> {
    diesel::select(last_insert_rowid()).get_result(conn)
}

/// Values bound in one `IN (…)` or multi-row `INSERT`: far below SQLite's limit of 32 766 variables per
/// statement, so that no list a client can make (many ids, a project with very many checks) fails a query.
pub(crate) const IDS_PER_STATEMENT: usize = 500;

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
