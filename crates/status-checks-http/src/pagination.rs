//! GitLab's pagination headers: `X-Page`, `X-Per-Page`, `X-Total`, `X-Total-Pages`, `X-Next-Page`,
//! `X-Prev-Page` (empty when none) and an absolute `Link` with `next`, `prev`, `first` and `last`.

use crate::request::Origin;
use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use status_checks_core::Page;

fn page_url(origin: &Origin, page: u64, per_page: u32) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(origin.query.as_bytes()) {
        if key != "page" && key != "per_page" && key != "private_token" && key != "access_token" {
            query.append_pair(&key, &value);
        }
    }
    query.append_pair("page", &page.to_string());
    query.append_pair("per_page", &per_page.to_string());
    format!(
        "{}://{}{}?{}",
        origin.scheme,
        origin.host,
        origin.path,
        query.finish()
    )
}

/// The pagination headers of `page`.
pub fn headers<T>(origin: &Origin, page: &Page<T>) -> HeaderMap {
    let per_page = page.request.per_page();
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    let opt = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
    set("x-page", page.request.page().to_string());
    set("x-per-page", per_page.to_string());
    set("x-total", page.total.to_string());
    set("x-total-pages", page.total_pages().to_string());
    set("x-next-page", opt(page.next_page()));
    set("x-prev-page", opt(page.prev_page()));
    let mut links = Vec::new();
    if let Some(prev) = page.prev_page() {
        links.push(format!(
            "<{}>; rel=\"prev\"",
            page_url(origin, prev, per_page)
        ));
    }
    if let Some(next) = page.next_page() {
        links.push(format!(
            "<{}>; rel=\"next\"",
            page_url(origin, next, per_page)
        ));
    }
    links.push(format!(
        "<{}>; rel=\"first\"",
        page_url(origin, 1, per_page)
    ));
    links.push(format!(
        "<{}>; rel=\"last\"",
        page_url(origin, page.total_pages(), per_page)
    ));
    set("link", links.join(", "));
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
    (headers, Json(body)).into_response()
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
