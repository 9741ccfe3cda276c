//! The role matrix of the status-check endpoints: no token, non-member, Guest … Owner, administrator.

use super::*;

// Every test of this module, again on PostgreSQL.
also_on_postgres!(
    every_status_check_endpoint_for_every_role,
    a_read_api_token_reads_but_never_writes,
    every_way_of_sending_a_token,
    revoked_and_expired_tokens_are_refused,
);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Anonymous,
    Outsider,
    Member(i64),
    Admin,
}

/// (endpoint, method, uri, body, success status, lowest access level allowed).
type Case = (&'static str, Method, String, Option<Value>, u16, i64);

#[tokio::test]
async fn every_status_check_endpoint_for_every_role() {
    let (app, project, iid) = TestApp::with_merge_request(false).await;
    let base = format!("/api/v4/projects/{project}");
    let roles = [
        Who::Anonymous,
        Who::Outsider,
        Who::Member(10),
        Who::Member(20),
        Who::Member(30),
        Who::Member(40),
        Who::Member(50),
        Who::Admin,
    ];

    for (n, who) in roles.into_iter().enumerate() {
        let token = match who {
            Who::Anonymous => None,
            Who::Outsider => Some(app.user(&format!("outsider{n}")).await.1),
            Who::Member(level) => {
                let (id, token) = app.user(&format!("member{n}")).await;
                app.member(project, id, level).await;
                Some(token)
            }
            Who::Admin => Some(ROOT_TOKEN.to_owned()),
        };
        let token = token.as_deref();
        let (name, url) = (
            format!("check{n}"),
            format!("https://c{n}.example.com/h?k=v"),
        );
        let check = app.check(project, &name, &url, &[]).await;
        let (name, url) = (format!("doomed{n}"), format!("https://d{n}.example.com"));
        let doomed = app.check(project, &name, &url, &[]).await;
        // A failed answer, so that a retry passes the status rule and only the role decides.
        app.respond(project, iid, check, "failed").await;

        let level = match who {
            Who::Member(level) => level,
            Who::Admin => 100,
            _ => 0,
        };
        let cases: Vec<Case> = vec![
            (
                "E1",
                Method::GET,
                format!("{base}/external_status_checks"),
                None,
                200,
                40,
            ),
            (
                "E2",
                Method::POST,
                format!("{base}/external_status_checks"),
                Some(
                    json!({"name": format!("new{n}"), "external_url": format!("https://n{n}.example.com")}),
                ),
                201,
                40,
            ),
            (
                "E3",
                Method::PUT,
                format!("{base}/external_status_checks/{check}"),
                Some(json!({"name": format!("renamed{n}")})),
                200,
                40,
            ),
            (
                "E4",
                Method::DELETE,
                format!("{base}/external_status_checks/{doomed}"),
                None,
                204,
                40,
            ),
            (
                "E5",
                Method::GET,
                format!("{base}/merge_requests/{iid}/status_checks"),
                None,
                200,
                20,
            ),
            (
                "E6",
                Method::POST,
                format!("{base}/merge_requests/{iid}/status_check_responses"),
                Some(json!({"external_status_check_id": check, "sha": HEAD, "status": "failed"})),
                201,
                30,
            ),
            (
                "E7",
                Method::POST,
                format!("{base}/merge_requests/{iid}/status_checks/{check}/retry"),
                None,
                202,
                30,
            ),
            (
                "deliveries",
                Method::GET,
                format!("{base}/external_status_checks/{check}/deliveries"),
                None,
                200,
                40,
            ),
        ];
        for (name, method, uri, body, success, lowest) in cases {
            let answer = app.call(method, &uri, token, body).await;
            let (expected, expected_body) = match who {
                Who::Anonymous => (401, Some(json!({"message": "401 Unauthorized"}))),
                Who::Outsider => (404, Some(json!({"message": "404 Project Not Found"}))),
                _ if level >= lowest => (success, None),
                _ => (403, Some(json!({"message": "403 Forbidden"}))),
            };
            assert_eq!(
                answer.status.as_u16(),
                expected,
                "{name} as {who:?}: {}",
                answer.body
            );
            if let Some(body) = expected_body {
                assert_eq!(answer.body, body, "{name} as {who:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_read_api_token_reads_but_never_writes() {
    let (app, project, iid) = TestApp::with_merge_request(false).await;
    let (id, token) = app.user_with_scope("reader", "read_api").await;
    app.member(project, id, 40).await;
    let checks = format!("/api/v4/projects/{project}/external_status_checks");
    app.get(&checks, &token).await.expect(200);
    let e5 = format!("/api/v4/projects/{project}/merge_requests/{iid}/status_checks");
    app.get(&e5, &token).await.expect(200);
    let body = json!({"name": "x", "external_url": "https://x.example.com"});
    let refused = app.post(&checks, &token, body).await.expect(403);
    assert_eq!(refused["error"], "insufficient_scope");
    assert_eq!(refused["scope"], "api");
    let project = format!("/api/v4/projects/{project}");
    app.delete(&project, &token).await.expect(403);
}

#[tokio::test]
async fn every_way_of_sending_a_token() {
    let app = TestApp::new().await;
    let bearer = Request::get("/api/v4/user")
        .header("authorization", format!("Bearer {ROOT_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(bearer).await.expect(200)["username"], "root");
    let query = Request::get(format!("/api/v4/user?private_token={ROOT_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(query).await.expect(200)["username"], "root");
    let wrong = Request::get("/api/v4/user")
        .header("private-token", "nope")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.send(wrong).await.expect(401),
        json!({"message": "401 Unauthorized"})
    );
    let none = Request::get("/api/v4/user").body(Body::empty()).unwrap();
    app.send(none).await.expect(401);
}

#[tokio::test]
async fn revoked_and_expired_tokens_are_refused() {
    let app = TestApp::new().await;
    let (id, token) = app.user("alice").await;
    app.get("/api/v4/user", &token).await.expect(200);
    let tokens = format!("/api/v4/personal_access_tokens?user_id={id}");
    let tokens = app.get(&tokens, ROOT_TOKEN).await.expect(200);
    let token_id = tokens[0]["id"].clone();
    app.delete(
        &format!("/api/v4/personal_access_tokens/{token_id}"),
        ROOT_TOKEN,
    )
    .await
    .expect(204);
    app.get("/api/v4/user", &token).await.expect(401);

    let tomorrow = (app.clock.now_date() + chrono::Days::new(1))
        .format("%Y-%m-%d")
        .to_string();
    let expiring = app
        .post(
            &format!("/api/v4/users/{id}/personal_access_tokens"),
            ROOT_TOKEN,
            json!({"name": "e", "scopes": ["api"], "expires_at": tomorrow}),
        )
        .await
        .expect(201);
    let raw = expiring["token"].as_str().unwrap().to_owned();
    app.get("/api/v4/user", &raw).await.expect(200);
    app.clock.advance(Duration::from_secs(2 * 86_400));
    app.get("/api/v4/user", &raw).await.expect(401);
}

trait ClockDate {
    fn now_date(&self) -> chrono::NaiveDate;
}

impl ClockDate for FixedClock {
    fn now_date(&self) -> chrono::NaiveDate {
        use status_checks_core::ports::Clock;
        self.now().date_naive()
    }
}
