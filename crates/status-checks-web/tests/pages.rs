//! The pages through the router the binary serves (the API's routes beside the pages), on a real SQLite file:
//! sign-in and its cookie, the permission matrix of every page, CSRF refusals, the Retry button, and no
//! secret in any page. Everything is set up through the JSON API, as a user would.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use status_checks_core::service::{Settings, StatusChecksService};
use status_checks_core::testkit::{FixedClock, SequentialSecrets};
use status_checks_http::{AppState, HttpSettings};
use status_checks_storage::{Store, StoreOptions};
use status_checks_web::{WebSettings, WebState};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tower::ServiceExt;

const ROOT_TOKEN: &str = "root-token-0123456789abcdef";
const HEAD: &str = "1111111111111111111111111111111111111111";
const SHARED_SECRET: &str = "shared-secret-of-the-check-42";
const FORGE_TOKEN: &str = "glpat-forge-token-secret-0001";
const WEBHOOK_SECRET: &str = "webhook-secret-value-0002";
const MR_PAGE: &str = "/team/demo/-/merge_requests/1";

struct Site {
    router: Router,
    _dir: TempDir,
}

/// An answer of a page.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map_or("<none>", |v| v.to_str().unwrap())
    }

    /// The value of the first hidden `authenticity_token` field.
    fn csrf(&self) -> String {
        let marker = "name=\"authenticity_token\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }
}

impl Site {
    async fn new(base_url: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &format!("sqlite://{}", dir.path().join("pages.db").display()),
            StoreOptions::default(),
        )
        .unwrap();
        let ports = store.ports(
            Arc::new(FixedClock::default()),
            Arc::new(SequentialSecrets::default()),
        );
        let settings = Settings {
            pending_timeout: Duration::from_secs(120),
            base_url: base_url.into(),
            ..Settings::default()
        };
        let service = StatusChecksService::new(ports, settings);
        assert!(service.bootstrap_root(ROOT_TOKEN).await.unwrap());
        let pages = status_checks_web::router(WebState::new(
            service.clone(),
            WebSettings::for_base_url(base_url),
        ));
        let router = status_checks_http::router_with_pages(
            AppState::new(service, HttpSettings::default()),
            pages,
        );
        Site { router, _dir: dir }
    }

    async fn api(&self, method: Method, path: &str, token: &str, body: Value) -> Value {
        let request = Request::builder()
            .method(method)
            .uri(format!("/api/v4{path}"))
            .header("PRIVATE-TOKEN", token)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            status.is_success(),
            "{path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        }
    }

    async fn send(&self, request: Request<Body>) -> Page {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Page {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Page {
        let mut request = Request::builder().uri(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// Signs in through the form, as a browser does; answers the session cookie (`name=value`).
    async fn sign_in(&self, token: &str) -> String {
        let form = self.get("/users/sign_in", None).await;
        assert_eq!(form.status, StatusCode::OK);
        let nonce_cookie = pair(&form.cookies()[0]);
        let signed_in = self
            .post(
                "/users/sign_in",
                Some(&nonce_cookie),
                &[
                    ("authenticity_token", &form.csrf()),
                    ("token", token),
                    ("redirect_to", MR_PAGE),
                ],
            )
            .await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            signed_in.body
        );
        assert_eq!(signed_in.location(), MR_PAGE);
        let session = signed_in
            .cookies()
            .into_iter()
            .find(|c| c.starts_with("_status_checks_session="))
            .expect("a session cookie");
        pair(&session)
    }

    /// A user with a token of `scope`; answers (id, token).
    async fn user(&self, username: &str, scope: &str) -> (i64, String) {
        let user = self
            .api(
                Method::POST,
                "/users",
                ROOT_TOKEN,
                json!({ "username": username, "name": username, "email": format!("{username}@example.com") }),
            )
            .await;
        let id = user["id"].as_i64().unwrap();
        let token = self
            .api(
                Method::POST,
                &format!("/users/{id}/personal_access_tokens"),
                ROOT_TOKEN,
                json!({ "name": "pages", "scopes": [scope] }),
            )
            .await;
        (id, token["token"].as_str().unwrap().to_owned())
    }
}

/// `name=value` of a `Set-Cookie`.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// The people of the permission matrix, by role.
struct People {
    guest: String,
    reporter: String,
    developer: String,
    maintainer: String,
    outsider: String,
    read_only_developer: String,
}

/// Project `team/demo` (gated) with a check on `main` (with a secret and a query in its URL), merge request
/// !1 into main, the check answered `failed` at HEAD, and a forge link made after; members of every role.
async fn demo(site: &Site) -> People {
    site.api(
        Method::POST,
        "/projects",
        ROOT_TOKEN,
        json!({ "name": "demo", "namespace": "team", "only_allow_merge_if_all_status_checks_passed": true }),
    )
    .await;
    site.api(
        Method::POST,
        "/projects/1/protected_branches",
        ROOT_TOKEN,
        json!({ "name": "main" }),
    )
    .await;
    site.api(
        Method::POST,
        "/projects/1/external_status_checks",
        ROOT_TOKEN,
        json!({
            "name": "compliance",
            "external_url": "https://compliance.example.com/hook?api_key=query-secret",
            "shared_secret": SHARED_SECRET,
            "protected_branch_ids": [1],
        }),
    )
    .await;
    site.api(
        Method::POST,
        "/projects/1/merge_requests",
        ROOT_TOKEN,
        json!({ "source_branch": "feature", "target_branch": "main", "title": "Add <b>bold</b> things", "sha": HEAD }),
    )
    .await;
    let mut tokens = Vec::new();
    for (name, level, scope) in [
        ("guest", Some(10), "api"),
        ("reporter", Some(20), "api"),
        ("developer", Some(30), "api"),
        ("maintainer", Some(40), "api"),
        ("outsider", None, "api"),
        ("reader", Some(30), "read_api"),
    ] {
        let (id, token) = site.user(name, scope).await;
        if let Some(level) = level {
            site.api(
                Method::POST,
                "/projects/1/members",
                ROOT_TOKEN,
                json!({ "user_id": id, "access_level": level }),
            )
            .await;
        }
        tokens.push(token);
    }
    site.api(
        Method::POST,
        "/projects/1/merge_requests/1/status_check_responses",
        ROOT_TOKEN,
        json!({ "external_status_check_id": 1, "sha": HEAD, "status": "failed" }),
    )
    .await;
    site.api(
        Method::PUT,
        "/projects/1/forge",
        ROOT_TOKEN,
        json!({
            "forge": "gitlab",
            "api_url": "https://gitlab.example.com/api/v4",
            "repository": "team/demo",
            "token": FORGE_TOKEN,
            "webhook_secret": WEBHOOK_SECRET,
        }),
    )
    .await;
    let mut tokens = tokens.into_iter();
    let mut next = || tokens.next().unwrap();
    People {
        guest: next(),
        reporter: next(),
        developer: next(),
        maintainer: next(),
        outsider: next(),
        read_only_developer: next(),
    }
}

#[tokio::test]
async fn anonymous_visitors_see_the_start_page_and_404_pages_only() {
    let site = Site::new("http://sc.test").await;
    demo(&site).await;
    let start = site.get("/", None).await;
    assert_eq!(start.status, StatusCode::OK);
    assert_eq!(
        start.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    assert!(start.body.contains("href=\"/users/sign_in\""));
    assert!(!start.body.contains("team/demo"), "no project is listed");
    for path in [
        "/team/demo",
        MR_PAGE,
        "/root",
        "/team/missing",
        "/team/demo/-/merge_requests/99",
        "/nobody/there/-/issues",
    ] {
        let page = site.get(path, None).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.body.contains("Page not found"), "{path}");
        assert!(!page.body.contains("Add &lt;b&gt;"), "{path}");
    }
    // A bad session cookie is nobody.
    let page = site
        .get(MR_PAGE, Some("_status_checks_session=not-a-token"))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn paths_under_api_stay_json() {
    let site = Site::new("http://sc.test").await;
    let unknown = site.get("/api/v4/no/such/route", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body, r#"{"error":"404 Not Found"}"#);
    let known = site.get("/api/v4/projects", None).await;
    assert_eq!(known.status, StatusCode::UNAUTHORIZED);
    let page = site.get("/no/such/page/-/x", None).await;
    assert!(page.body.starts_with("<!DOCTYPE html>"));
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_refuses_bad_tokens() {
    let site = Site::new("http://sc.test").await;
    let form = site.get("/users/sign_in", None).await;
    let nonce_cookie = &form.cookies()[0];
    assert!(nonce_cookie.contains("HttpOnly"), "{nonce_cookie}");
    assert!(nonce_cookie.contains("SameSite=Strict"), "{nonce_cookie}");
    assert!(
        !nonce_cookie.contains("Secure"),
        "plain http: {nonce_cookie}"
    );

    // No nonce, or another one: refused before the token is even read.
    let forged = site
        .post(
            "/users/sign_in",
            None,
            &[("authenticity_token", "forged"), ("token", ROOT_TOKEN)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(forged.cookies().is_empty());
    let mismatched = site
        .post(
            "/users/sign_in",
            Some(&pair(nonce_cookie)),
            &[("authenticity_token", "0000"), ("token", ROOT_TOKEN)],
        )
        .await;
    assert_eq!(mismatched.status, StatusCode::UNPROCESSABLE_ENTITY);

    let wrong = site
        .post(
            "/users/sign_in",
            Some(&pair(nonce_cookie)),
            &[
                ("authenticity_token", &form.csrf()),
                ("token", "wrong-token-123456789"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("not valid"));
    assert!(
        !wrong.body.contains("wrong-token-123456789"),
        "the token is not echoed"
    );

    let session = site.sign_in(ROOT_TOKEN).await;
    let start = site.get("/", Some(&session)).await;
    assert!(start.body.contains("Signed in as"));

    // An open redirect is not followed.
    let form = site.get("/users/sign_in", None).await;
    let away = site
        .post(
            "/users/sign_in",
            Some(&pair(&form.cookies()[0])),
            &[
                ("authenticity_token", &form.csrf()),
                ("token", ROOT_TOKEN),
                ("redirect_to", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(away.location(), "/");

    // Sign-out needs the session's CSRF token, then forgets the cookie.
    let refused = site
        .post(
            "/users/sign_out",
            Some(&session),
            &[("authenticity_token", "x")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let out = site
        .post(
            "/users/sign_out",
            Some(&session),
            &[("authenticity_token", &start.csrf())],
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let removal = &out.cookies()[0];
    assert!(
        removal.starts_with("_status_checks_session=;") && removal.contains("Max-Age=0"),
        "{removal}"
    );
}

#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let site = Site::new("https://checks.example.com").await;
    let form = site.get("/users/sign_in", None).await;
    assert!(form.cookies()[0].contains("Secure"));
}

#[tokio::test]
async fn the_merge_request_page_follows_the_permission_policy() {
    let site = Site::new("http://sc.test").await;
    let people = demo(&site).await;

    let root = site.sign_in(ROOT_TOKEN).await;
    let page = site.get(MR_PAGE, Some(&root)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert!(
        page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let body = &page.body;
    assert!(
        body.contains("Add &lt;b&gt;bold&lt;/b&gt; things"),
        "escaped title"
    );
    assert!(!body.contains("<b>bold</b>"));
    assert!(body.contains(HEAD));
    assert!(body.contains("Blocked"), "may not merge, and why");
    assert!(body.contains("badge failed"));
    assert!(body.contains(">Retry</button>"));
    assert!(body.contains("Notifications sent"));
    assert!(body.contains("Status reports to the forge"));

    // Reporter: the checks without URL, no Retry, no deliveries.
    let reporter = site.sign_in(&people.reporter).await;
    let page = site.get(MR_PAGE, Some(&reporter)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("compliance"));
    assert!(!page.body.contains("compliance.example.com"));
    assert!(!page.body.contains(">Retry</button>"));
    assert!(!page.body.contains("Notifications sent"));
    assert!(!page.body.contains("Status reports to the forge"));

    // Developer: the URL without its query, and Retry.
    let developer = site.sign_in(&people.developer).await;
    let page = site.get(MR_PAGE, Some(&developer)).await;
    assert!(page.body.contains("https://compliance.example.com/hook"));
    assert!(!page.body.contains("query-secret"));
    assert!(page.body.contains(">Retry</button>"));
    assert!(!page.body.contains("Notifications sent"));

    // A read-only token sees the page but no Retry.
    let reader = site.sign_in(&people.read_only_developer).await;
    let page = site.get(MR_PAGE, Some(&reader)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(">Retry</button>"));

    // Maintainer: the deliveries and the forge's status reports.
    let maintainer = site.sign_in(&people.maintainer).await;
    let page = site.get(MR_PAGE, Some(&maintainer)).await;
    assert!(page.body.contains("Notifications sent"));
    assert!(page.body.contains("Status reports to the forge"));

    // Guest: 403, as E5; a non-member: the 404 page, the same as for a project that does not exist.
    let guest = site.sign_in(&people.guest).await;
    assert_eq!(
        site.get(MR_PAGE, Some(&guest)).await.status,
        StatusCode::FORBIDDEN
    );
    let outsider = site.sign_in(&people.outsider).await;
    let hidden = site.get(MR_PAGE, Some(&outsider)).await;
    let missing = site
        .get("/team/nothing/-/merge_requests/1", Some(&outsider))
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.body, missing.body, "nothing tells them apart");
}

#[tokio::test]
async fn the_project_page_redacts_check_urls_by_role() {
    let site = Site::new("http://sc.test").await;
    let people = demo(&site).await;
    let maintainer = site.sign_in(&people.maintainer).await;
    let page = site.get("/team/demo", Some(&maintainer)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("api_key=query-secret"),
        "whole, as on E1"
    );
    assert!(page.body.contains("Forge link"));
    assert!(page.body.contains("gitlab.example.com"));
    assert!(page.body.contains("!1 Add &lt;b&gt;bold&lt;/b&gt; things"));
    assert!(
        page.body.contains("0 of 1 passed, 1 failed"),
        "{}",
        page.body
    );

    let developer = site.sign_in(&people.developer).await;
    let page = site.get("/team/demo", Some(&developer)).await;
    assert!(page.body.contains("https://compliance.example.com/hook"));
    assert!(!page.body.contains("query-secret"));
    assert!(!page.body.contains("Forge link"));

    let reporter = site.sign_in(&people.reporter).await;
    let page = site.get("/team/demo", Some(&reporter)).await;
    assert!(page.body.contains("hidden for your role"));
    assert!(!page.body.contains("compliance.example.com"));

    let guest = site.sign_in(&people.guest).await;
    let page = site.get("/team/demo", Some(&guest)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("External status checks"));
    assert!(!page.body.contains("Open merge requests"));

    let outsider = site.sign_in(&people.outsider).await;
    assert_eq!(
        site.get("/team/demo", Some(&outsider)).await.status,
        StatusCode::NOT_FOUND
    );
    let start = site.get("/", Some(&outsider)).await;
    assert!(!start.body.contains("team/demo"));
    let start = site.get("/", Some(&guest)).await;
    assert!(start.body.contains("href=\"http://sc.test/team/demo\""));
}

#[tokio::test]
async fn retry_needs_the_sessions_csrf_token_and_a_developer() {
    let site = Site::new("http://sc.test").await;
    let people = demo(&site).await;
    let retry = format!("{MR_PAGE}/status_checks/1/retry");
    let developer = site.sign_in(&people.developer).await;
    let page = site.get(MR_PAGE, Some(&developer)).await;
    let csrf = page.csrf();

    let missing = site.post(&retry, Some(&developer), &[]).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    let maintainer = site.sign_in(&people.maintainer).await;
    let theirs = site.get(MR_PAGE, Some(&maintainer)).await.csrf();
    let crossed = site
        .post(&retry, Some(&developer), &[("authenticity_token", &theirs)])
        .await;
    assert_eq!(
        crossed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another session's token"
    );
    assert!(
        site.get(MR_PAGE, Some(&developer))
            .await
            .body
            .contains("badge failed"),
        "nothing retried"
    );

    let reporter = site.sign_in(&people.reporter).await;
    let reporter_csrf = site.get(MR_PAGE, Some(&reporter)).await.csrf();
    let forbidden = site
        .post(
            &retry,
            Some(&reporter),
            &[("authenticity_token", &reporter_csrf)],
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let reader = site.sign_in(&people.read_only_developer).await;
    let reader_csrf = site.get(MR_PAGE, Some(&reader)).await.csrf();
    let read_only = site
        .post(
            &retry,
            Some(&reader),
            &[("authenticity_token", &reader_csrf)],
        )
        .await;
    assert_eq!(read_only.status, StatusCode::FORBIDDEN);
    assert!(read_only.body.contains("read-only token"));

    let done = site
        .post(&retry, Some(&developer), &[("authenticity_token", &csrf)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), MR_PAGE);
    let after = site.get(MR_PAGE, Some(&developer)).await;
    assert!(
        after.body.contains("0 of 1 passed, 1 pending"),
        "{}",
        after.body
    );
    assert!(
        after.body.contains(" retried"),
        "the retry is in the history"
    );

    // Only a failed check may be retried: the core's words, 422.
    let again = site
        .post(&retry, Some(&developer), &[("authenticity_token", &csrf)])
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("External status check must be failed"));
}

#[tokio::test]
async fn no_page_shows_a_secret_or_a_token() {
    let site = Site::new("http://sc.test").await;
    let people = demo(&site).await;
    let tokens = [
        ROOT_TOKEN,
        &people.guest,
        &people.reporter,
        &people.developer,
        &people.maintainer,
        &people.outsider,
        &people.read_only_developer,
    ];
    let mut seen = 0;
    for token in tokens {
        let session = site.sign_in(token).await;
        for path in [
            "/",
            "/team/demo",
            MR_PAGE,
            "/root",
            "/developer",
            "/users/sign_in",
        ] {
            let page = site.get(path, Some(&session)).await;
            seen += 1;
            for secret in tokens
                .iter()
                .copied()
                .chain([SHARED_SECRET, FORGE_TOKEN, WEBHOOK_SECRET])
            {
                assert!(
                    !page.body.contains(secret),
                    "{path} shows a secret to the holder of {token}"
                );
            }
        }
    }
    assert_eq!(seen, 42);
}

#[tokio::test]
async fn user_pages_show_private_fields_to_the_user_and_administrators_only() {
    let site = Site::new("http://sc.test").await;
    let people = demo(&site).await;
    let developer = site.sign_in(&people.developer).await;
    let own = site.get("/developer", Some(&developer)).await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.body.contains("developer@example.com"));
    let other = site.get("/maintainer", Some(&developer)).await;
    assert_eq!(other.status, StatusCode::OK);
    assert!(!other.body.contains("maintainer@example.com"));
    let root = site.sign_in(ROOT_TOKEN).await;
    assert!(
        site.get("/maintainer", Some(&root))
            .await
            .body
            .contains("maintainer@example.com")
    );
    assert_eq!(
        site.get("/nobody", Some(&root)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_refresh_script_is_served_from_this_host() {
    let site = Site::new("http://sc.test").await;
    let script = site.get("/-/pages/refresh.js", None).await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(
        script.headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert!(script.body.contains("data-refresh"));
}
