//! GitLab's pagination headers: `X-Page`, `X-Per-Page`, `X-Total`, `X-Total-Pages`, `X-Next-Page`,
//! `X-Prev-Page` (empty when none) and an absolute `Link` with `next`, `prev`, `first` and `last`.

use crate::request::Origin;
use crate::views::json_response;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use status_checks_core::Page;

// Names made once (a `&str` name is parsed and validated on every insert).
const X_PAGE: HeaderName = HeaderName::from_static("x-page");
const X_PER_PAGE: HeaderName = HeaderName::from_static("x-per-page");
const X_TOTAL: HeaderName = HeaderName::from_static("x-total");
const X_TOTAL_PAGES: HeaderName = HeaderName::from_static("x-total-pages");
const X_NEXT_PAGE: HeaderName = HeaderName::from_static("x-next-page");
const X_PREV_PAGE: HeaderName = HeaderName::from_static("x-prev-page");

/// `scheme://host/path?` and the request's own query without `page`, `per_page` and tokens (then `&`): the
/// start of every link of a page.
fn link_prefix(origin: &Origin) -> String {
    let mut kept = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(origin.query.as_bytes()) {
        if key != "page" && key != "per_page" && key != "private_token" && key != "access_token" {
            kept.append_pair(&key, &value);
        }
    }
    let kept = kept.finish();
    let mut prefix = String::with_capacity(
        origin.scheme.len() + origin.host.len() + origin.path.len() + kept.len() + 5,
    );
    for piece in [&origin.scheme, "://", &origin.host, &origin.path, "?"] {
        prefix.push_str(piece);
    }
    if !kept.is_empty() {
        prefix.push_str(&kept);
        prefix.push('&');
    }
    prefix
}

/// Appends `<prefix page=N&per_page=M>; rel="rel"` to a `Link` header under construction. (Pushed, not
/// `format!`ed: every list answer builds four of these.)
fn push_link(links: &mut String, prefix: &str, page: u64, per_page: u32, rel: &str) {
    if !links.is_empty() {
        links.push_str(", ");
    }
    links.push('<');
    links.push_str(prefix);
    links.push_str("page=");
    links.push_str(&page.to_string());
    links.push_str("&per_page=");
    links.push_str(&per_page.to_string());
    links.push_str(">; rel=\"");
    links.push_str(rel);
    links.push('"');
}

/// The pagination headers of `page`.
pub fn headers<T>(origin: &Origin, page: &Page<T>) -> HeaderMap {
    let per_page = page.request.per_page();
    let mut headers = HeaderMap::with_capacity(8);
    let number = |n: Option<u64>| n.map_or(HeaderValue::from_static(""), HeaderValue::from);
    headers.insert(X_PAGE, HeaderValue::from(page.request.page()));
    headers.insert(X_PER_PAGE, HeaderValue::from(per_page));
    headers.insert(X_TOTAL, HeaderValue::from(page.total));
    headers.insert(X_TOTAL_PAGES, HeaderValue::from(page.total_pages()));
    headers.insert(X_NEXT_PAGE, number(page.next_page()));
    headers.insert(X_PREV_PAGE, number(page.prev_page()));
    let prefix = link_prefix(origin);
    let mut links = String::with_capacity(4 * (prefix.len() + 48));
    if let Some(prev) = page.prev_page() {
        push_link(&mut links, &prefix, prev, per_page, "prev");
    }
    if let Some(next) = page.next_page() {
        push_link(&mut links, &prefix, next, per_page, "next");
    }
    push_link(&mut links, &prefix, 1, per_page, "first");
    push_link(&mut links, &prefix, page.total_pages(), per_page, "last");
    // A link no header can carry (not expected: every piece is a checked header or URI) is left out.
    if let Ok(value) = HeaderValue::from_str(&links) {
        headers.insert(header::LINK, value);
    }
    headers
}

/// A page as a JSON array with its pagination headers.
pub fn respond<T, V: Serialize>(
    origin: &Origin,
    page: Page<T>,
    view: impl FnMut(T) -> V,
) -> Response {
    let headers = headers(origin, &page);
    let body: Vec<V> = page.items.into_iter().map(view).collect();
    (headers, json_response(StatusCode::OK, &body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use status_checks_core::PageRequest;

    #[test]
    fn headers_and_links() {
        let origin = Origin {
            scheme: "http".into(),
            host: "sc.test:8080".into(),
            path: "/api/v4/projects".into(),
            query: "page=2&per_page=2&private_token=secret&order_by=id".into(),
        };
        let page = Page {
            items: vec![3, 4],
            total: 5,
            request: PageRequest::new(2, 2),
        };
        let h = headers(&origin, &page);
        let get = |n: &str| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?")
                .to_owned()
        };
        assert_eq!(
            (
                get("x-page"),
                get("x-per-page"),
                get("x-total"),
                get("x-total-pages")
            ),
            ("2".into(), "2".into(), "5".into(), "3".into())
        );
        assert_eq!(
            (get("x-next-page"), get("x-prev-page")),
            ("3".into(), "1".into())
        );
        let link = get("link");
        assert!(
            link.contains(
                "<http://sc.test:8080/api/v4/projects?order_by=id&page=3&per_page=2>; rel=\"next\""
            ),
            "{link}"
        );
        assert!(
            link.contains("rel=\"prev\"")
                && link.contains("rel=\"first\"")
                && link.contains("page=3&per_page=2>; rel=\"last\"")
        );
        assert!(!link.contains("secret"), "tokens never leak into links");

        let last = Page {
            items: vec![5],
            total: 5,
            request: PageRequest::new(3, 2),
        };
        let h = headers(&origin, &last);
        assert_eq!(h.get("x-next-page").map(|v| v.as_bytes()), Some(&b""[..]));
    }
}
