//! The query budget: E5 and E6 run a fixed number of SQL statements however many checks, protected branches
//! or stored responses there are (no N+1). Counted with the storage adapter's statement counter.

use super::*;

// SQLite only (no `also_on_postgres!`): the budget is counted with the SQLite adapter's statement counter and
// relies on its in-store caches; the PostgreSQL adapter has neither.

/// Statements of one request, measured on its second run (the store's caches of tokens, projects and checks
/// are warm then, as in steady operation).
async fn statements_for(app: &TestApp, request: impl AsyncFn() -> Answer) -> u64 {
    request().await;
    let before = app.sqlite_store().statements_executed();
    request().await;
    app.sqlite_store().statements_executed() - before
}

#[tokio::test]
async fn e5_and_e6_cost_the_same_with_one_check_or_many() {
    let (app, project, iid) = TestApp::with_merge_request(true).await;
    let first = app
        .check(project, "first", "https://first.example.com", &[])
        .await;
    let e5 = format!("/api/v4/projects/{project}/merge_requests/{iid}/status_checks");
    let e6 = format!("/api/v4/projects/{project}/merge_requests/{iid}/status_check_responses");
    let answer =
        |status: &str| json!({"external_status_check_id": first, "sha": HEAD, "status": status});

    let small_e5 = statements_for(&app, async || app.get(&e5, ROOT_TOKEN).await).await;
    let small_e6 = statements_for(&app, async || {
        app.post(&e6, ROOT_TOKEN, answer("failed")).await
    })
    .await;

    // Nine more checks, several scoped to (wildcard) protected branches, and a long history of answers.
    let mut branches = Vec::new();
    for name in ["main", "ma*", "release/*"] {
        branches.push(app.branch(project, name).await);
    }
    for i in 0..9 {
        let scope = if i % 2 == 0 {
            vec![branches[i % 3]]
        } else {
            vec![]
        };
        let id = app
            .check(
                project,
                &format!("check{i}"),
                &format!("https://c{i}.example.com"),
                &scope,
            )
            .await;
        for status in ["pending", "failed", "passed"] {
            app.post(
                &e6,
                ROOT_TOKEN,
                json!({"external_status_check_id": id, "sha": HEAD, "status": status}),
            )
            .await
            .expect(201);
        }
    }
    for _ in 0..30 {
        app.post(&e6, ROOT_TOKEN, answer("pending"))
            .await
            .expect(201);
    }
    let listed = app.get(&e5, ROOT_TOKEN).await.expect(200);
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(8),
        "the two checks scoped to release/* do not apply to main"
    );

    let large_e5 = statements_for(&app, async || app.get(&e5, ROOT_TOKEN).await).await;
    let large_e6 = statements_for(&app, async || {
        app.post(&e6, ROOT_TOKEN, answer("passed")).await
    })
    .await;
    assert_eq!(
        large_e5, small_e5,
        "E5 statements with 1 check vs 10 checks and 57 responses"
    );
    assert_eq!(
        large_e6, small_e6,
        "E6 statements with 1 check vs 10 checks and 57 responses"
    );
    // Pin today's budget, so that a new query per request is a conscious change.
    // E5: BEGIN, the merge request, its newest responses, COMMIT (token, project and checks come from the caches).
    assert!(small_e5 <= 4, "E5 runs {small_e5} statements");
    // E6: that read, then BEGIN IMMEDIATE, INSERT, last_insert_rowid(), COMMIT.
    assert!(small_e6 <= 8, "E6 runs {small_e6} statements");
    eprintln!("statements per request: E5 {small_e5}, E6 {small_e6}");
}
