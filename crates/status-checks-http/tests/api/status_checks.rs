//! E1–E7 end to end through the router.

use super::*;

// Every test of this module, again on PostgreSQL.
also_on_postgres!(
    e2_creates_a_check_and_e1_lists_it_with_full_url,
    e2_with_form_bodies_and_every_spelling_of_protected_branch_ids,
    e2_validation_and_uniqueness,
    e2_refuses_local_addresses_in_every_spelling,
    e3_changes_only_what_is_sent_and_an_empty_secret_clears_it,
    e4_deletes_and_a_second_delete_is_404,
    e5_lists_applicable_checks_with_statuses_and_redacts_urls_by_role,
    e6_records_answers_about_head_only,
    e6_parameter_errors_in_declaration_order,
    e7_retries_only_failed_checks,
    pending_past_the_timeout_reads_failed_and_can_be_retried,
    a_push_makes_every_check_pending_and_returning_to_a_sha_restores_its_answers,
    merge_gating_follows_the_checks,
    deliveries_are_recorded_and_listed_newest_first,
);

async fn setup(gated: bool) -> (TestApp, i64, i64) {
    TestApp::with_merge_request(gated).await
}

/// `setup`, and one check, "QA", for every branch.
async fn setup_with_check(gated: bool) -> (TestApp, i64, i64, i64) {
    let (app, project, iid) = setup(gated).await;
    let check = app
        .check(project, "QA", "https://qa.example.com", &[])
        .await;
    (app, project, iid, check)
}

#[tokio::test]
async fn e2_creates_a_check_and_e1_lists_it_with_full_url() {
    let (app, project, _) = setup(false).await;
    let main = app.branch(project, "main").await;
    let body = json!({"name": "QA", "external_url": "https://qa.example.com/hook?token=abc", "shared_secret": "s3cret", "protected_branch_ids": [main]});
    let created = app
        .post(
            &format!("/api/v4/projects/{project}/external_status_checks"),
            ROOT_TOKEN,
            body,
        )
        .await
        .expect(201);
    assert_eq!(created["name"], "QA");
    assert_eq!(created["project_id"], project);
    assert_eq!(
        created["external_url"],
        "https://qa.example.com/hook?token=abc"
    );
    assert_eq!(created["hmac"], true);
    assert!(
        created.get("shared_secret").is_none(),
        "the secret is never returned"
    );
    assert_eq!(created["protected_branches"][0]["name"], "main");
    assert_eq!(
        created["protected_branches"][0]["code_owner_approval_required"],
        false
    );
    assert!(is_gitlab_time(
        &created["protected_branches"][0]["created_at"]
    ));

    let listed = app
        .get(
            &format!("/api/v4/projects/{project}/external_status_checks"),
            ROOT_TOKEN,
        )
        .await;
    assert_eq!(listed.header("x-total"), "1");
    let listed = listed.expect(200);
    assert_eq!(listed, json!([created]));
}

#[tokio::test]
async fn e2_with_form_bodies_and_every_spelling_of_protected_branch_ids() {
    let (app, project, _) = setup(false).await;
    let (a, b) = (
        app.branch(project, "main").await,
        app.branch(project, "release/*").await,
    );
    let uri = format!("/api/v4/projects/{project}/external_status_checks");
    for (i, ids) in [
        format!("protected_branch_ids[]={a}&protected_branch_ids[]={b}"),
        format!("protected_branch_ids={a},{b}"),
    ]
    .iter()
    .enumerate()
    {
        let body = format!("name=form{i}&external_url=https%3A%2F%2Fform{i}.example.com%2Fh&{ids}");
        let created = app
            .form(Method::POST, &uri, ROOT_TOKEN, &body)
            .await
            .expect(201);
        assert_eq!(
            created["protected_branches"].as_array().map(Vec::len),
            Some(2),
            "{ids}"
        );
        assert_eq!(
            created["external_url"],
            format!("https://form{i}.example.com/h")
        );
    }
    let scalar = app.post(&uri, ROOT_TOKEN, json!({"name": "s", "external_url": "https://s.example.com", "protected_branch_ids": a.to_string()})).await.expect(201);
    assert_eq!(
        scalar["protected_branches"].as_array().map(Vec::len),
        Some(1)
    );
    let query = app
        .call(
            Method::POST,
            &format!("{uri}?name=q&external_url=https://q.example.com"),
            Some(ROOT_TOKEN),
            None,
        )
        .await
        .expect(201);
    assert_eq!(query["protected_branches"], json!([]));
}

#[tokio::test]
async fn e2_validation_and_uniqueness() {
    let (app, project, _) = setup(false).await;
    let other = app.project("other", false).await;
    let foreign = app.branch(other, "main").await;
    let uri = format!("/api/v4/projects/{project}/external_status_checks");
    assert_eq!(
        app.post(&uri, ROOT_TOKEN, json!({})).await.expect(400),
        json!({"error": "name is missing, external_url is missing"})
    );
    assert_eq!(
        app.post(
            &uri,
            ROOT_TOKEN,
            json!({"name": "", "external_url": "not a url"})
        )
        .await
        .expect(422),
        json!({"message": ["Name can't be blank", "External url must be a valid URL"]})
    );
    let long = format!("https://e.com/{}", "a".repeat(250));
    assert_eq!(
        app.post(
            &uri,
            ROOT_TOKEN,
            json!({"name": "x".repeat(256), "external_url": long, "shared_secret": "s".repeat(256)})
        )
        .await
        .expect(422),
        json!({"message": ["Name is too long (maximum is 255 characters)", "External url is too long (maximum is 255 characters)", "Shared secret is too long (maximum is 255 characters)"]})
    );
    app.post(
        &uri,
        ROOT_TOKEN,
        json!({"name": "QA", "external_url": "https://qa.example.com"}),
    )
    .await
    .expect(201);
    assert_eq!(
        app.post(
            &uri,
            ROOT_TOKEN,
            json!({"name": "QA", "external_url": "https://qa.example.com"})
        )
        .await
        .expect(422),
        json!({"message": ["Name has already been taken", "External url has already been taken"]})
    );
    app.post(
        &format!("/api/v4/projects/{other}/external_status_checks"),
        ROOT_TOKEN,
        json!({"name": "QA", "external_url": "https://qa.example.com"}),
    )
    .await
    .expect(201);
    assert_eq!(
        app.post(&uri, ROOT_TOKEN, json!({"name": "B", "external_url": "https://b.example.com", "protected_branch_ids": [foreign]})).await.expect(422),
        json!({"message": ["all protected branches must exist within the project"]})
    );
    assert_eq!(
        app.post(&uri, ROOT_TOKEN, json!({"name": "B", "external_url": "https://b.example.com", "protected_branch_ids": ["x"]})).await.expect(400),
        json!({"error": "protected_branch_ids is invalid"})
    );
}

#[tokio::test]
async fn e2_refuses_local_addresses_in_every_spelling() {
    let (app, project, _) = setup(false).await;
    let uri = format!("/api/v4/projects/{project}/external_status_checks");
    for (i, url) in [
        "http://localhost/x",
        "http://127.0.0.1",
        "http://127.1",
        "http://2130706433",
        "http://0x7f.0.0.1",
        "http://[::1]",
        "http://[::ffff:127.0.0.1]",
        "http://0.0.0.0",
        "http://10.0.0.1",
        "http://169.254.169.254",
        "http://[fe80::1]",
    ]
    .iter()
    .enumerate()
    {
        let answer = app
            .post(
                &uri,
                ROOT_TOKEN,
                json!({"name": format!("c{i}"), "external_url": url}),
            )
            .await
            .expect(422);
        let message = answer["message"][0].as_str().unwrap_or_default();
        assert!(
            message.starts_with("External url is blocked: "),
            "{url}: {message}"
        );
    }
}

#[tokio::test]
async fn e3_changes_only_what_is_sent_and_an_empty_secret_clears_it() {
    let (app, project, _) = setup(false).await;
    let main = app.branch(project, "main").await;
    let uri = format!("/api/v4/projects/{project}/external_status_checks");
    let id = app.post(&uri, ROOT_TOKEN, json!({"name": "QA", "external_url": "https://qa.example.com", "shared_secret": "x", "protected_branch_ids": [main]})).await.expect(201)["id"].clone();
    let renamed = app
        .put(
            &format!("{uri}/{id}"),
            ROOT_TOKEN,
            json!({"name": "Renamed"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            renamed["name"].clone(),
            renamed["external_url"].clone(),
            renamed["hmac"].clone()
        ),
        (
            json!("Renamed"),
            json!("https://qa.example.com"),
            json!(true)
        )
    );
    assert_eq!(
        renamed["protected_branches"].as_array().map(Vec::len),
        Some(1)
    );
    let cleared = app
        .put(
            &format!("{uri}/{id}"),
            ROOT_TOKEN,
            json!({"shared_secret": "", "protected_branch_ids": []}),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            cleared["hmac"].clone(),
            cleared["protected_branches"].clone()
        ),
        (json!(false), json!([]))
    );
    assert_eq!(
        app.put(&format!("{uri}/999"), ROOT_TOKEN, json!({"name": "x"}))
            .await
            .expect(404),
        json!({"message": "404 Not found"})
    );
    let other = app.project("other", false).await;
    assert_eq!(
        app.put(
            &format!("/api/v4/projects/{other}/external_status_checks/{id}"),
            ROOT_TOKEN,
            json!({"name": "x"})
        )
        .await
        .expect(404),
        json!({"message": "404 Not found"})
    );
}

#[tokio::test]
async fn e4_deletes_and_a_second_delete_is_404() {
    let (app, project, _, id) = setup_with_check(false).await;
    let uri = format!("/api/v4/projects/{project}/external_status_checks/{id}");
    assert_eq!(app.delete(&uri, ROOT_TOKEN).await.expect(204), Value::Null);
    app.delete(&uri, ROOT_TOKEN).await.expect(404);
}

#[tokio::test]
async fn e5_lists_applicable_checks_with_statuses_and_redacts_urls_by_role() {
    let (app, project, iid) = setup(false).await;
    let release = app.branch(project, "release/*").await;
    let ma = app.branch(project, "ma*").await;
    let all = app
        .check(
            project,
            "all",
            "https://all.example.com/h?token=secret",
            &[],
        )
        .await;
    app.check(project, "release", "https://rel.example.com/h", &[release])
        .await;
    let wildcard = app
        .check(project, "wild", "https://wild.example.com/h?x=1", &[ma])
        .await;
    app.respond(project, iid, all, "passed").await;

    let uri = format!("/api/v4/projects/{project}/merge_requests/{iid}/status_checks");
    let as_admin = app.get(&uri, ROOT_TOKEN).await.expect(200);
    assert_eq!(
        as_admin,
        json!([
            {"id": all, "name": "all", "external_url": "https://all.example.com/h", "status": "passed"},
            {"id": wildcard, "name": "wild", "external_url": "https://wild.example.com/h", "status": "pending"},
        ])
    );
    let (reporter, reporter_token) = app.user("reporter").await;
    app.member(project, reporter, 20).await;
    let as_reporter = app.get(&uri, &reporter_token).await.expect(200);
    assert_eq!(as_reporter[0]["external_url"], "");
    let (dev, dev_token) = app.user("dev").await;
    app.member(project, dev, 30).await;
    assert_eq!(
        app.get(&uri, &dev_token).await.expect(200)[0]["external_url"],
        "https://all.example.com/h"
    );
}

#[tokio::test]
async fn e6_records_answers_about_head_only() {
    let (app, project, iid) = setup(false).await;
    let check = app
        .check(project, "QA", "https://qa.example.com/h?token=secret", &[])
        .await;
    let uri = format!("/api/v4/projects/{project}/merge_requests/{iid}/status_check_responses");
    let answer = app.respond(project, iid, check, "failed").await;
    assert_eq!(
        (answer["status"].clone(), answer["sha"].clone()),
        (json!("failed"), json!(HEAD))
    );
    assert_eq!(answer["merge_request"]["iid"], iid);
    assert_eq!(answer["external_status_check"]["id"], check);
    assert_eq!(
        answer["external_status_check"]["external_url"], "https://qa.example.com/h",
        "redacted for the caller, as on E5"
    );
    assert!(is_gitlab_time(&answer["created_at"]));

    assert_eq!(
        app.post(
            &uri,
            ROOT_TOKEN,
            json!({"external_status_check_id": check, "sha": OTHER_SHA, "status": "passed"})
        )
        .await
        .expect(409),
        json!({"message": format!("SHA does not match HEAD of source branch: {HEAD}")})
    );
    let statuses = app
        .get(
            &format!("/api/v4/projects/{project}/merge_requests/{iid}/status_checks"),
            ROOT_TOKEN,
        )
        .await
        .expect(200);
    assert_eq!(
        statuses[0]["status"], "failed",
        "the refused answer stored nothing"
    );

    // Form body, and parameters in the query string.
    app.form(
        Method::POST,
        &uri,
        ROOT_TOKEN,
        &format!("external_status_check_id={check}&sha={HEAD}&status=passed"),
    )
    .await
    .expect(201);
    app.call(
        Method::POST,
        &format!("{uri}?external_status_check_id={check}&sha={HEAD}&status=pending"),
        Some(ROOT_TOKEN),
        None,
    )
    .await
    .expect(201);
    let statuses = app
        .get(
            &format!("/api/v4/projects/{project}/merge_requests/{iid}/status_checks"),
            ROOT_TOKEN,
        )
        .await
        .expect(200);
    assert_eq!(statuses[0]["status"], "pending", "the newest answer wins");
}

#[tokio::test]
async fn e6_parameter_errors_in_declaration_order() {
    let (app, project, iid) = setup(false).await;
    let uri = format!("/api/v4/projects/{project}/merge_requests/{iid}/status_check_responses");
    assert_eq!(
        app.post(&uri, ROOT_TOKEN, json!({})).await.expect(400),
        json!({"error": "external_status_check_id is missing, sha is missing, status is missing, status does not have a valid value"})
    );
    assert_eq!(
        app.post(
            &uri,
            ROOT_TOKEN,
            json!({"external_status_check_id": "abc", "sha": HEAD, "status": "done"})
        )
        .await
        .expect(400),
        json!({"error": "external_status_check_id is invalid, status does not have a valid value"})
    );
    assert_eq!(
        app.post(
            &uri,
            ROOT_TOKEN,
            json!({"external_status_check_id": 999, "sha": HEAD, "status": "passed"})
        )
        .await
        .expect(404),
        json!({"message": "404 Not found"})
    );
    let missing_mr = format!("/api/v4/projects/{project}/merge_requests/99/status_check_responses");
    assert_eq!(
        app.post(
            &missing_mr,
            ROOT_TOKEN,
            json!({"external_status_check_id": 1, "sha": HEAD, "status": "passed"})
        )
        .await
        .expect(404),
        json!({"message": "404 Not found"})
    );
    assert_eq!(
        app.post(
            &format!("/api/v4/projects/{project}/merge_requests/abc/status_check_responses"),
            ROOT_TOKEN,
            json!({})
        )
        .await
        .expect(400),
        json!({"error": "merge_request_iid is invalid"})
    );
}

#[tokio::test]
async fn e7_retries_only_failed_checks() {
    let (app, project, iid, check) = setup_with_check(false).await;
    let retry =
        format!("/api/v4/projects/{project}/merge_requests/{iid}/status_checks/{check}/retry");
    assert_eq!(
        app.post(&retry, ROOT_TOKEN, json!({})).await.expect(422),
        json!({"message": "External status check must be failed"})
    );
    app.respond(project, iid, check, "failed").await;
    assert_eq!(
        app.post(&retry, ROOT_TOKEN, json!({})).await.expect(202),
        json!({"message": "202 Accepted"})
    );
    let statuses = app
        .get(
            &format!("/api/v4/projects/{project}/merge_requests/{iid}/status_checks"),
            ROOT_TOKEN,
        )
        .await
        .expect(200);
    assert_eq!(statuses[0]["status"], "pending");
    app.post(&retry, ROOT_TOKEN, json!({})).await.expect(422);
    app.post(
        &format!("/api/v4/projects/{project}/merge_requests/{iid}/status_checks/999/retry"),
        ROOT_TOKEN,
        json!({}),
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn pending_past_the_timeout_reads_failed_and_can_be_retried() {
    let (app, project, iid, _) = setup_with_check(false).await;
    let uri = format!("/api/v4/projects/{project}/merge_requests/{iid}/status_checks");
    assert_eq!(
        app.get(&uri, ROOT_TOKEN).await.expect(200)[0]["status"],
        "pending"
    );
    app.clock.advance(Duration::from_secs(121));
    let statuses = app.get(&uri, ROOT_TOKEN).await.expect(200);
    assert_eq!(statuses[0]["status"], "failed");
    let check = statuses[0]["id"].clone();
    app.post(&format!("{uri}/{check}/retry"), ROOT_TOKEN, json!({}))
        .await
        .expect(202);
    assert_eq!(
        app.get(&uri, ROOT_TOKEN).await.expect(200)[0]["status"],
        "pending"
    );
}

#[tokio::test]
async fn a_push_makes_every_check_pending_and_returning_to_a_sha_restores_its_answers() {
    let (app, project, iid, check) = setup_with_check(false).await;
    let mr = format!("/api/v4/projects/{project}/merge_requests/{iid}");
    app.respond(project, iid, check, "passed").await;
    let pushed = app
        .put(&mr, ROOT_TOKEN, json!({"sha": OTHER_SHA}))
        .await
        .expect(200);
    assert_eq!(pushed["sha"], OTHER_SHA);
    assert_eq!(
        app.get(&format!("{mr}/status_checks"), ROOT_TOKEN)
            .await
            .expect(200)[0]["status"],
        "pending"
    );
    app.put(&mr, ROOT_TOKEN, json!({"sha": HEAD}))
        .await
        .expect(200);
    assert_eq!(
        app.get(&format!("{mr}/status_checks"), ROOT_TOKEN)
            .await
            .expect(200)[0]["status"],
        "passed"
    );
}

#[tokio::test]
async fn merge_gating_follows_the_checks() {
    let (app, project, iid, check) = setup_with_check(true).await;
    let mr = format!("/api/v4/projects/{project}/merge_requests/{iid}");
    assert_eq!(
        app.get(&mr, ROOT_TOKEN).await.expect(200)["detailed_merge_status"],
        "status_checks_must_pass"
    );
    assert_eq!(
        app.put(&format!("{mr}/merge"), ROOT_TOKEN, json!({}))
            .await
            .expect(405),
        json!({"message": "405 Method Not Allowed"})
    );
    app.respond(project, iid, check, "passed").await;
    assert_eq!(
        app.get(&mr, ROOT_TOKEN).await.expect(200)["detailed_merge_status"],
        "mergeable"
    );
    let merged = app
        .put(&format!("{mr}/merge"), ROOT_TOKEN, json!({}))
        .await
        .expect(200);
    assert_eq!(
        (
            merged["state"].clone(),
            merged["detailed_merge_status"].clone()
        ),
        (json!("merged"), json!("not_open"))
    );
    assert!(is_gitlab_time(&merged["merged_at"]));
    app.put(&format!("{mr}/merge"), ROOT_TOKEN, json!({}))
        .await
        .expect(405);
}

#[tokio::test]
async fn deliveries_are_recorded_and_listed_newest_first() {
    let (app, project, _, check) = setup_with_check(false).await;
    let iid = app.merge_request(project, "develop").await;
    app.put(
        &format!("/api/v4/projects/{project}/merge_requests/{iid}"),
        ROOT_TOKEN,
        json!({"title": "Renamed"}),
    )
    .await
    .expect(200);
    let listed = app
        .get(
            &format!("/api/v4/projects/{project}/external_status_checks/{check}/deliveries"),
            ROOT_TOKEN,
        )
        .await
        .expect(200);
    let actions: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["action"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(actions, vec!["update", "open"]);
    assert_eq!(listed[0]["status"], "pending");
    assert_eq!(listed[0]["merge_request_iid"], iid);
    assert_ne!(listed[0]["idempotency_key"], listed[1]["idempotency_key"]);
}
