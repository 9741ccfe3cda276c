//! Every error shape of the contract, pinned with snapshots, and the hostile-input cases that must never 500.

use super::*;
use insta::assert_json_snapshot;

// Every test of this module, again on PostgreSQL.
also_on_postgres!(
    error_shapes,
    a_streamed_body_over_the_limit_is_413,
    hostile_input_never_answers_500,
    get_and_delete_ignore_any_body_and_content_type,
    entity_shapes,
    a_body_that_breaks_off_is_400_not_413,
    lists_beyond_sqlites_variable_limit_are_refused_cleanly,
    a_unicode_case_variant_of_a_path_does_not_hide_the_real_project,
    path_ids_that_do_not_parse_are_400_after_authentication_and_undecodable_segments_404,
);

const JSON: &str = "application/json";

/// A raw request as root, with this content type and body as sent (not necessarily valid).
fn as_root(method: Method, uri: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("private-token", ROOT_TOKEN)
        .header("content-type", content_type)
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn error_shapes() {
    let app = TestApp::with_limit(256).await;
    let project = app.project("proj", false).await;
    let mut shapes = serde_json::Map::new();
    let mut record = |name: &str, answer: Answer, status: u16| {
        assert_eq!(answer.status.as_u16(), status, "{name}: {}", answer.body);
        shapes.insert(name.into(), answer.body);
    };
    record(
        "401",
        app.call(Method::GET, "/api/v4/user", None, None).await,
        401,
    );
    record(
        "404 project",
        app.get("/api/v4/projects/999", ROOT_TOKEN).await,
        404,
    );
    record(
        "404 resource",
        app.get(
            &format!("/api/v4/projects/{project}/merge_requests/9"),
            ROOT_TOKEN,
        )
        .await,
        404,
    );
    record("404 route", app.get("/api/v4/nope", ROOT_TOKEN).await, 404);
    record(
        "404 outside the API",
        app.call(Method::GET, "/", None, None).await,
        404,
    );
    let wrong_method = app
        .call(Method::PATCH, "/api/v4/projects", Some(ROOT_TOKEN), None)
        .await;
    assert!(
        wrong_method.header("allow").contains("GET"),
        "Allow: {}",
        wrong_method.header("allow")
    );
    record("405 method", wrong_method, 405);
    record(
        "400 params",
        app.post(
            &format!("/api/v4/projects/{project}/merge_requests"),
            ROOT_TOKEN,
            json!({"title": "t"}),
        )
        .await,
        400,
    );
    let malformed = as_root(Method::POST, "/api/v4/projects", JSON, "{\"name\": ");
    record("400 malformed json", app.send(malformed).await, 400);
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(300));
    let big = as_root(Method::POST, "/api/v4/projects", JSON, big);
    record("413", app.send(big).await, 413);
    let xml = as_root(Method::POST, "/api/v4/projects", "application/xml", "<a/>");
    record("415", app.send(xml).await, 415);
    record(
        "409",
        app.post("/api/v4/users", ROOT_TOKEN, json!({"username": "root"}))
            .await,
        409,
    );
    record(
        "422 list",
        app.post(
            &format!("/api/v4/projects/{project}/external_status_checks"),
            ROOT_TOKEN,
            json!({"name": "", "external_url": ""}),
        )
        .await,
        422,
    );
    record(
        "400 attributes",
        app.post(
            "/api/v4/projects",
            ROOT_TOKEN,
            json!({"name": "proj", "namespace": "grp"}),
        )
        .await,
        400,
    );
    // Named: the same snapshot on both backends (an unnamed second assertion would get "-2").
    assert_json_snapshot!("error_shapes", shapes);
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_413() {
    let app = TestApp::with_limit(64).await;
    let chunks = vec![Ok::<_, std::io::Error>(vec![b'{'; 50]), Ok(vec![b' '; 50])];
    let body = Body::from_stream(futures_stream(chunks));
    let request = as_root(Method::POST, "/api/v4/projects", JSON, body);
    assert_eq!(
        app.send(request).await.expect(413),
        json!({"message": "413 Request Entity Too Large"})
    );
}

fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    struct Chunks(std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>);
    impl futures_core::Stream for Chunks {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Chunks(chunks.into_iter())
}

#[tokio::test]
async fn hostile_input_never_answers_500() {
    let (app, project, iid) = TestApp::with_merge_request(false).await;
    let nasty = [
        json!({"name": null, "external_url": null}),
        json!({"name": ["a"], "external_url": {"x": 1}}),
        json!({"name": "\u{0000}", "external_url": "http://\u{0000}"}),
        json!({"name": "n", "external_url": "https://ok.example.com", "protected_branch_ids": [9_223_372_036_854_775_807i64, -1]}),
        json!({"name": "ü".repeat(300), "external_url": format!("https://{}.com", "ü".repeat(100))}),
        json!({"external_status_check_id": 9_223_372_036_854_775_807i64, "sha": "'; DROP TABLE users; --", "status": "passed"}),
        json!({"external_status_check_id": -1, "sha": [1], "status": ["passed"]}),
    ];
    for body in nasty {
        for uri in [
            format!("/api/v4/projects/{project}/external_status_checks"),
            format!("/api/v4/projects/{project}/merge_requests/{iid}/status_check_responses"),
        ] {
            let answer = app.post(&uri, ROOT_TOKEN, body.clone()).await;
            assert!(
                answer.status.is_client_error(),
                "{uri} {body}: {} {}",
                answer.status,
                answer.body
            );
        }
    }
    for uri in [
        "/api/v4/projects/%FF%FE",
        "/api/v4/projects/..%2F..%2Fetc",
        "/api/v4/projects/1/merge_requests/99999999999999999999999",
        "/api/v4/projects/1/merge_requests/-1/status_checks",
        "/api/v4/projects/99999999999999999999/merge_requests",
        "/api/v4/projects?page=-1",
        "/api/v4/projects?per_page=abc",
        "/api/v4/projects?page=99999999999",
    ] {
        let answer = app.get(uri, ROOT_TOKEN).await;
        assert!(
            answer.status.is_client_error() || answer.status == StatusCode::OK,
            "{uri}: {} {}",
            answer.status,
            answer.body
        );
    }
    // The data is intact.
    assert_eq!(
        app.get(
            &format!("/api/v4/projects/{project}/merge_requests/{iid}"),
            ROOT_TOKEN
        )
        .await
        .expect(200)["sha"],
        HEAD
    );
}

#[tokio::test]
async fn get_and_delete_ignore_any_body_and_content_type() {
    let app = TestApp::new().await;
    let request = as_root(Method::GET, "/api/v4/user", JSON, "{not json");
    app.send(request).await.expect(200);
    let project = app.project("proj", false).await;
    let uri = format!("/api/v4/projects/{project}");
    let request = as_root(Method::DELETE, &uri, "text/plain", "junk");
    app.send(request).await.expect(202);
}

#[tokio::test]
async fn entity_shapes() {
    // The clock and the secrets are fixed and the database is fresh: every field is deterministic.
    let app = TestApp::new().await;
    let project = app.project("proj", true).await;
    let (alice, _) = app.user("alice").await;
    app.member(project, alice, 30).await;
    let main = app.branch(project, "main").await;
    let url = "https://qa.example.com/hook?token=secret";
    let check = app.check(project, "QA", url, &[main]).await;
    let iid = app.merge_request(project, "main").await;
    let base = format!("/api/v4/projects/{project}");
    let mut shapes = serde_json::Map::new();
    let reads = [
        ("user", "/api/v4/user".to_owned()),
        ("token", "/api/v4/personal_access_tokens/self".to_owned()),
        ("project", base.clone()),
        ("member", format!("{base}/members/{alice}")),
        (
            "protected branch",
            format!("{base}/protected_branches/main"),
        ),
        ("merge request", format!("{base}/merge_requests/{iid}")),
        ("E1", format!("{base}/external_status_checks")),
        ("E5", format!("{base}/merge_requests/{iid}/status_checks")),
    ];
    for (name, uri) in reads {
        shapes.insert(name.into(), app.get(&uri, ROOT_TOKEN).await.expect(200));
    }
    shapes.insert(
        "E6".into(),
        app.respond(project, iid, check, "passed").await,
    );
    shapes.insert(
        "deliveries".into(),
        app.get(
            &format!("{base}/external_status_checks/{check}/deliveries"),
            ROOT_TOKEN,
        )
        .await
        .expect(200),
    );
    // Named: the same snapshot on both backends.
    assert_json_snapshot!("entity_shapes", shapes);
}

#[tokio::test]
async fn a_body_that_breaks_off_is_400_not_413() {
    let app = TestApp::new().await;
    let chunks = vec![
        Ok(b"{\"name\":".to_vec()),
        Err(std::io::Error::other("connection reset")),
    ];
    let body = Body::from_stream(futures_stream(chunks));
    let request = as_root(Method::POST, "/api/v4/projects", JSON, body);
    let answer = app.send(request).await;
    assert_eq!(answer.status.as_u16(), 400, "{}", answer.body);
}

#[tokio::test]
async fn lists_beyond_sqlites_variable_limit_are_refused_cleanly() {
    let app = TestApp::new().await;
    let project = app.project("proj", false).await;
    let ids: Vec<i64> = (1..=40_000).collect();
    let body = json!({"name": "many", "external_url": "https://many.example.com", "protected_branch_ids": ids});
    assert_eq!(
        app.post(
            &format!("/api/v4/projects/{project}/external_status_checks"),
            ROOT_TOKEN,
            body
        )
        .await
        .expect(422),
        json!({"message": ["all protected branches must exist within the project"]})
    );
}

#[tokio::test]
async fn a_unicode_case_variant_of_a_path_does_not_hide_the_real_project() {
    let app = TestApp::new().await;
    // U+212A KELVIN SIGN lower-cases to "k" in Unicode but not in SQLite's NOCASE: the lookup misses, and
    // that miss must not be remembered under the real project's path.
    let id = app.project("k", false).await;
    app.get("/api/v4/projects/grp%2F%E2%84%AA", ROOT_TOKEN)
        .await
        .expect(404);
    assert_eq!(
        app.get("/api/v4/projects/grp%2Fk", ROOT_TOKEN)
            .await
            .expect(200)["id"],
        id
    );
}

#[tokio::test]
async fn path_ids_that_do_not_parse_are_400_after_authentication_and_undecodable_segments_404() {
    let (app, project, iid) = TestApp::with_merge_request(false).await;
    let p = format!("/api/v4/projects/{project}");
    let invalid = [
        (Method::GET, "/api/v4/users/abc".to_owned(), "id"),
        (Method::DELETE, "/api/v4/users/x".to_owned(), "id"),
        (
            Method::POST,
            "/api/v4/users/x/personal_access_tokens".to_owned(),
            "user_id",
        ),
        (
            Method::GET,
            "/api/v4/personal_access_tokens/SELF".to_owned(),
            "id",
        ),
        (
            Method::DELETE,
            "/api/v4/personal_access_tokens/abc".to_owned(),
            "id",
        ),
        (Method::PUT, format!("{p}/members/x"), "user_id"),
        (
            Method::GET,
            "/api/v4/projects/999/members/x".to_owned(),
            "user_id",
        ),
        (
            Method::PUT,
            format!("{p}/merge_requests/x/merge"),
            "merge_request_iid",
        ),
        (
            Method::GET,
            format!("{p}/merge_requests/x/status_checks?page=0"),
            "merge_request_iid",
        ),
        (
            Method::POST,
            format!("{p}/merge_requests/x/status_checks/y/retry"),
            "merge_request_iid",
        ),
        (
            Method::POST,
            format!("{p}/merge_requests/{iid}/status_checks/y/retry"),
            "external_status_check_id",
        ),
        (
            Method::PUT,
            format!("{p}/external_status_checks/x"),
            "check_id",
        ),
        (
            Method::GET,
            format!("{p}/external_status_checks/x/deliveries?page=0"),
            "check_id",
        ),
    ];
    for (method, uri, name) in invalid {
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        assert_eq!(
            app.call(method.clone(), &uri, Some(ROOT_TOKEN), body.clone())
                .await
                .expect(400),
            json!({"error": format!("{name} is invalid")}),
            "{method} {uri}"
        );
        app.call(method, &uri, None, body).await.expect(401);
    }
    let undecodable = [
        (Method::GET, "/api/v4/users/%FF".to_owned()),
        (
            Method::DELETE,
            "/api/v4/personal_access_tokens/%FF".to_owned(),
        ),
        (Method::GET, "/api/v4/projects/%FF".to_owned()),
        (Method::GET, format!("{p}/protected_branches/%FF")),
        (
            Method::POST,
            format!("{p}/merge_requests/{iid}/status_checks/%FF/retry"),
        ),
    ];
    for (method, uri) in undecodable {
        for token in [Some(ROOT_TOKEN), None] {
            assert_eq!(
                app.call(method.clone(), &uri, token, None)
                    .await
                    .expect(404),
                json!({"error": "404 Not Found"}),
                "{method} {uri}"
            );
        }
    }
}
