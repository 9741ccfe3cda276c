//! The forge routes through the real router: the link's life, the webhook's answers in the contract's
//! order (413 before anything, 404 project, 404 forge, 401, 422, 200), what a delivery stores, and the
//! status posts it schedules.

use crate::{HEAD, OTHER_SHA, ROOT_TOKEN, TestApp};
use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{Value, json};

// Every test of this module, again on PostgreSQL.
also_on_postgres!(
    the_link_is_created_updated_read_and_deleted_without_showing_its_credentials,
    a_developer_may_not_manage_the_link,
    a_webhook_is_answered_in_the_contracts_order,
    a_delivery_mirrors_the_merge_request_once_and_schedules_its_statuses,
);

const TOKEN: &str = "glpat-forge-token-000";
const SECRET: &str = "webhook-secret-0123456789";

fn link_body() -> Value {
    json!({
        "forge": "gitlab",
        "api_url": "https://gitlab.example.com/api/v4",
        "repository": "77",
        "token": TOKEN,
        "webhook_secret": SECRET,
    })
}

fn opened(iid: i64, sha: &str, updated_at: &str) -> Value {
    json!({
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"id": 31, "name": "Forge Person", "username": "forge-person"},
        "project": {"id": 77, "path_with_namespace": "team/app"},
        "object_attributes": {
            "iid": iid, "title": "From the forge", "description": "Body", "state": "opened",
            "action": "open", "source_branch": "topic", "target_branch": "main",
            "source_project_id": 77, "last_commit": {"id": sha},
            "url": format!("https://gitlab.example.com/team/app/-/merge_requests/{iid}"),
            "updated_at": updated_at
        },
        "changes": {}
    })
}

async fn webhook(
    app: &TestApp,
    project: i64,
    token: Option<&str>,
    key: &str,
    body: &Value,
) -> (u16, Value) {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v4/projects/{project}/forge/webhook"))
        .header("host", "sc.test")
        .header("content-type", "application/json")
        .header("x-gitlab-event", "Merge Request Hook")
        .header("idempotency-key", key);
    if let Some(token) = token {
        builder = builder.header("x-gitlab-token", token);
    }
    let answer = app
        .send(builder.body(Body::from(body.to_string())).unwrap())
        .await;
    (answer.status.as_u16(), answer.body)
}

#[tokio::test]
async fn the_link_is_created_updated_read_and_deleted_without_showing_its_credentials() {
    let app = TestApp::new().await;
    let project = app.project("proj", false).await;
    let uri = format!("/api/v4/projects/{project}/forge");
    assert_eq!(
        app.get(&uri, ROOT_TOKEN).await.expect(404),
        json!({"message": "404 Forge Not Found"})
    );
    let mut missing = link_body();
    missing.as_object_mut().unwrap().remove("token");
    assert_eq!(
        app.put(&uri, ROOT_TOKEN, missing).await.expect(400),
        json!({"error": "token is missing"})
    );
    let created = app.put(&uri, ROOT_TOKEN, link_body()).await.expect(201);
    assert_eq!(created["forge"], "gitlab");
    assert_eq!(created["status_name"], "status-checks");
    assert_eq!(created["per_check_statuses"], true);
    assert_eq!(created["token_set"], true);
    assert_eq!(
        created["webhook_url"],
        format!("http://sc.test/api/v4/projects/{project}/forge/webhook")
    );
    let updated = app
        .put(
            &uri,
            ROOT_TOKEN,
            json!({"status_name": "gate", "per_check_statuses": false}),
        )
        .await
        .expect(200);
    assert_eq!(updated["status_name"], "gate");
    assert_eq!(updated["repository"], "77", "what is not sent is kept");
    let read = app.get(&uri, ROOT_TOKEN).await.expect(200);
    for shown in [&created, &updated, &read] {
        let text = shown.to_string();
        assert!(!text.contains(TOKEN) && !text.contains(SECRET), "{text}");
    }
    app.delete(&uri, ROOT_TOKEN).await.expect(204);
    app.get(&uri, ROOT_TOKEN).await.expect(404);
    app.delete(&uri, ROOT_TOKEN).await.expect(404);
}

#[tokio::test]
async fn a_developer_may_not_manage_the_link() {
    let app = TestApp::new().await;
    let project = app.project("proj", false).await;
    let (dev, token) = app.user("dev").await;
    app.member(project, dev, 30).await;
    let uri = format!("/api/v4/projects/{project}/forge");
    app.put(&uri, &token, link_body()).await.expect(403);
    app.get(&uri, &token).await.expect(403);
    app.call(Method::POST, &format!("{uri}/sync"), Some(&token), None)
        .await
        .expect(403);
}

#[tokio::test]
async fn a_webhook_is_answered_in_the_contracts_order() {
    let app = TestApp::with_limit(4096).await;
    let project = app.project("proj", false).await;
    let body = opened(7, HEAD, "2026-01-01 10:00:00 UTC");
    assert_eq!(
        webhook(&app, 999, Some(SECRET), "k", &body).await,
        (404, json!({"message": "404 Project Not Found"}))
    );
    assert_eq!(
        webhook(&app, project, Some(SECRET), "k", &body).await,
        (404, json!({"message": "404 Forge Not Found"}))
    );
    app.put(
        &format!("/api/v4/projects/{project}/forge"),
        ROOT_TOKEN,
        link_body(),
    )
    .await
    .expect(201);
    assert_eq!(
        webhook(&app, project, None, "k", &body).await,
        (401, json!({"message": "401 Unauthorized"}))
    );
    assert_eq!(
        webhook(&app, project, Some("wrong-secret-0123456"), "k", &body)
            .await
            .0,
        401
    );
    let huge = json!({"padding": "x".repeat(8192)});
    assert_eq!(
        webhook(&app, project, Some(SECRET), "k", &huge).await.0,
        413
    );
    let mut elsewhere = body.clone();
    elsewhere["project"] = json!({"id": 78, "path_with_namespace": "team/other"});
    let (status, answer) = webhook(&app, project, Some(SECRET), "k", &elsewhere).await;
    assert_eq!(status, 422, "{answer}");
    // None of those stored anything.
    let mrs = app
        .get(
            &format!("/api/v4/projects/{project}/merge_requests"),
            ROOT_TOKEN,
        )
        .await
        .expect(200);
    assert_eq!(mrs, json!([]));
}

#[tokio::test]
async fn a_delivery_mirrors_the_merge_request_once_and_schedules_its_statuses() {
    let app = TestApp::new().await;
    let project = app.project("proj", false).await;
    app.check(project, "qa", "https://qa.example.com/hook", &[])
        .await;
    app.put(
        &format!("/api/v4/projects/{project}/forge"),
        ROOT_TOKEN,
        link_body(),
    )
    .await
    .expect(201);
    let body = opened(7, HEAD, "2026-01-01 10:00:00 UTC");
    assert_eq!(
        webhook(&app, project, Some(SECRET), "k1", &body).await,
        (200, json!({"message": "applied"}))
    );
    assert_eq!(
        webhook(&app, project, Some(SECRET), "k1", &body).await,
        (200, json!({"message": "already applied"}))
    );
    assert_eq!(
        webhook(&app, project, Some(SECRET), "k2", &body).await,
        (200, json!({"message": "unchanged"}))
    );
    let mr = app
        .get(
            &format!("/api/v4/projects/{project}/merge_requests/7"),
            ROOT_TOKEN,
        )
        .await
        .expect(200);
    assert_eq!(mr["iid"], 7, "the forge's number is the iid");
    assert_eq!(mr["sha"], HEAD);
    assert_eq!(mr["title"], "From the forge");

    // An older snapshot with another HEAD changes nothing.
    let older = opened(7, OTHER_SHA, "2026-01-01 09:00:00 UTC");
    assert_eq!(
        webhook(&app, project, Some(SECRET), "k3", &older).await,
        (200, json!({"message": "unchanged"}))
    );
    let mr = app
        .get(
            &format!("/api/v4/projects/{project}/merge_requests/7"),
            ROOT_TOKEN,
        )
        .await
        .expect(200);
    assert_eq!(mr["sha"], HEAD);

    let posts = app
        .get(
            &format!("/api/v4/projects/{project}/forge/deliveries"),
            ROOT_TOKEN,
        )
        .await
        .expect(200);
    let mut contexts: Vec<&str> = posts
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["context"].as_str().unwrap())
        .collect();
    contexts.sort_unstable();
    assert_eq!(contexts, ["status-checks", "status-checks/qa"]);
    for post in posts.as_array().unwrap() {
        assert_eq!(post["sha"], HEAD);
        assert_eq!(post["state"], "pending");
        assert_eq!(post["status"], "pending");
        assert_eq!(post["merge_request_iid"], 7);
    }

    // Our own merge-request writes are refused while linked.
    let refused = json!({"message": "Merge requests of this project are mirrored from its forge"});
    let create = json!({"source_branch": "a", "target_branch": "main", "title": "t", "sha": HEAD});
    assert_eq!(
        app.post(
            &format!("/api/v4/projects/{project}/merge_requests"),
            ROOT_TOKEN,
            create
        )
        .await
        .expect(422),
        refused
    );
    assert_eq!(
        app.put(
            &format!("/api/v4/projects/{project}/merge_requests/7/merge"),
            ROOT_TOKEN,
            json!({})
        )
        .await
        .expect(422),
        refused
    );
    // E6 still works, and schedules the statuses again.
    app.respond(project, 7, 1, "passed").await;
    let posts = app
        .get(
            &format!("/api/v4/projects/{project}/forge/deliveries"),
            ROOT_TOKEN,
        )
        .await
        .expect(200);
    assert_eq!(posts.as_array().unwrap().len(), 4);
}
