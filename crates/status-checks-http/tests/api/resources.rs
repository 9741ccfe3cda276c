//! The resources around status checks: users, tokens, projects, members, protected branches, merge requests,
//! and pagination.

use super::*;

// Every test of this module, again on PostgreSQL.
also_on_postgres!(
    current_user_version_and_the_api_root,
    users_are_created_by_admins_and_show_private_fields_only_to_admins_and_themselves,
    tokens_are_shown_once_listed_per_owner_and_revoked,
    projects_by_id_or_encoded_path_and_only_visible_ones,
    members_levels_and_the_last_owner,
    protected_branches_with_wildcards_and_encoded_names,
    merge_requests_numbered_per_project_updated_and_filtered,
    pagination_headers_and_links_on_every_list,
);

#[tokio::test]
async fn current_user_version_and_the_api_root() {
    let app = TestApp::new().await;
    let me = app.get("/api/v4/user", ROOT_TOKEN).await.expect(200);
    assert_eq!(
        (
            me["username"].clone(),
            me["is_admin"].clone(),
            me["state"].clone()
        ),
        (json!("root"), json!(true), json!("active"))
    );
    assert_eq!(me["web_url"], "http://sc.test/root");
    assert!(is_gitlab_time(&me["created_at"]));
    let version = app.get("/api/v4/version", ROOT_TOKEN).await.expect(200);
    assert!(version["version"].is_string() && version["revision"].is_string());
    for root in ["/api/v4", "/api/v4/"] {
        app.call(Method::GET, root, None, None).await.expect(200);
    }
}

#[tokio::test]
async fn users_are_created_by_admins_and_show_private_fields_only_to_admins_and_themselves() {
    let app = TestApp::new().await;
    let (alice, alice_token) = app.user("alice").await;
    app.post(
        "/api/v4/users",
        &alice_token,
        json!({"username": "mallory"}),
    )
    .await
    .expect(403);
    assert_eq!(
        app.post("/api/v4/users", ROOT_TOKEN, json!({"username": "ALICE"}))
            .await
            .expect(409),
        json!({"message": "Username has already been taken"})
    );
    assert_eq!(
        app.post("/api/v4/users", ROOT_TOKEN, json!({}))
            .await
            .expect(400),
        json!({"error": "username is missing"})
    );
    app.post("/api/v4/users", ROOT_TOKEN, json!({"username": "bad name"}))
        .await
        .expect(400);

    let (bob, _) = app.user("bob").await;
    let seen_by_alice = app
        .get(&format!("/api/v4/users/{bob}"), &alice_token)
        .await
        .expect(200);
    assert!(seen_by_alice.get("is_admin").is_none() && seen_by_alice.get("email").is_none());
    let herself = app
        .get(&format!("/api/v4/users/{alice}"), &alice_token)
        .await
        .expect(200);
    assert_eq!(herself["is_admin"], false);
    let filtered = app
        .get("/api/v4/users?username=bob", &alice_token)
        .await
        .expect(200);
    assert_eq!(filtered.as_array().map(Vec::len), Some(1));
    app.get("/api/v4/users/999", &alice_token).await.expect(404);
    app.delete(&format!("/api/v4/users/{bob}"), &alice_token)
        .await
        .expect(403);
    app.delete(&format!("/api/v4/users/{bob}"), ROOT_TOKEN)
        .await
        .expect(204);
    app.get(&format!("/api/v4/users/{bob}"), ROOT_TOKEN)
        .await
        .expect(404);
}

#[tokio::test]
async fn tokens_are_shown_once_listed_per_owner_and_revoked() {
    let app = TestApp::new().await;
    let (alice, alice_token) = app.user("alice").await;
    let uri = format!("/api/v4/users/{alice}/personal_access_tokens");
    assert_eq!(
        app.post(&uri, ROOT_TOKEN, json!({"name": "x"}))
            .await
            .expect(400),
        json!({"error": "scopes is missing"})
    );
    assert_eq!(
        app.post(&uri, ROOT_TOKEN, json!({"name": "x", "scopes": ["sudo"]}))
            .await
            .expect(400),
        json!({"error": "scopes does not have a valid value"})
    );
    assert_eq!(
        app.post(
            &uri,
            ROOT_TOKEN,
            json!({"name": "x", "scopes": ["api"], "expires_at": "2000-01-01"})
        )
        .await
        .expect(400),
        json!({"error": "expires_at is invalid"})
    );
    let created = app
        .post(
            &uri,
            ROOT_TOKEN,
            json!({"name": "ci", "scopes": ["read_api"]}),
        )
        .await
        .expect(201);
    assert!(created["token"].as_str().is_some_and(|t| t.len() >= 20));
    assert_eq!(
        (
            created["scopes"].clone(),
            created["active"].clone(),
            created["revoked"].clone()
        ),
        (json!(["read_api"]), json!(true), json!(false))
    );

    let mine = app
        .get("/api/v4/personal_access_tokens", &alice_token)
        .await
        .expect(200);
    assert_eq!(mine.as_array().map(Vec::len), Some(2));
    assert!(mine[0].get("token").is_none(), "never shown again");
    let own_self = app
        .get("/api/v4/personal_access_tokens/self", &alice_token)
        .await
        .expect(200);
    assert_eq!(own_self["scopes"], json!(["api"]));

    let root_token_id = app
        .get("/api/v4/personal_access_tokens/self", ROOT_TOKEN)
        .await
        .expect(200)["id"]
        .clone();
    app.delete(
        &format!("/api/v4/personal_access_tokens/{root_token_id}"),
        &alice_token,
    )
    .await
    .expect(404);
    app.delete("/api/v4/personal_access_tokens/self", &alice_token)
        .await
        .expect(204);
    app.get("/api/v4/user", &alice_token).await.expect(401);
}

#[tokio::test]
async fn projects_by_id_or_encoded_path_and_only_visible_ones() {
    let app = TestApp::new().await;
    let created = app
        .post(
            "/api/v4/projects",
            ROOT_TOKEN,
            json!({"name": "My Project", "namespace": "grp/sub"}),
        )
        .await
        .expect(201);
    assert_eq!(
        (
            created["path"].clone(),
            created["path_with_namespace"].clone()
        ),
        (json!("my-project"), json!("grp/sub/my-project"))
    );
    assert_eq!(created["web_url"], "http://sc.test/grp/sub/my-project");
    assert_eq!(
        created["only_allow_merge_if_all_status_checks_passed"],
        false
    );
    let id = created["id"].clone();
    assert_eq!(
        app.get("/api/v4/projects/grp%2Fsub%2Fmy-project", ROOT_TOKEN)
            .await
            .expect(200)["id"],
        id
    );
    assert_eq!(
        app.get("/api/v4/projects/grp%2fsub%2fMY-PROJECT", ROOT_TOKEN)
            .await
            .expect(200)["id"],
        id
    );
    assert_eq!(
        app.post(
            "/api/v4/projects",
            ROOT_TOKEN,
            json!({"name": "x", "path": "my-project", "namespace": "grp/sub"})
        )
        .await
        .expect(400),
        json!({"message": {"path": ["has already been taken"]}})
    );
    assert_eq!(
        app.post("/api/v4/projects", ROOT_TOKEN, json!({}))
            .await
            .expect(400),
        json!({"error": "name is missing"})
    );

    let (alice, alice_token) = app.user("alice").await;
    assert_eq!(
        app.get("/api/v4/projects", &alice_token).await.expect(200),
        json!([])
    );
    assert_eq!(
        app.get(&format!("/api/v4/projects/{id}"), &alice_token)
            .await
            .expect(404),
        json!({"message": "404 Project Not Found"})
    );
    let own = app
        .post("/api/v4/projects", &alice_token, json!({"name": "mine"}))
        .await
        .expect(201);
    assert_eq!(own["path_with_namespace"], "alice/mine");
    app.member(id.as_i64().unwrap(), alice, 40).await;
    assert_eq!(
        app.get("/api/v4/projects", &alice_token)
            .await
            .expect(200)
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let updated = app
        .put(
            &format!("/api/v4/projects/{id}"),
            &alice_token,
            json!({"only_allow_merge_if_all_status_checks_passed": "true", "name": "Renamed"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            updated["only_allow_merge_if_all_status_checks_passed"].clone(),
            updated["name"].clone()
        ),
        (json!(true), json!("Renamed"))
    );
    app.delete(&format!("/api/v4/projects/{id}"), &alice_token)
        .await
        .expect(403);
    assert_eq!(
        app.delete(&format!("/api/v4/projects/{id}"), ROOT_TOKEN)
            .await
            .expect(202),
        json!({"message": "202 Accepted"})
    );
    app.get(&format!("/api/v4/projects/{id}"), ROOT_TOKEN)
        .await
        .expect(404);
}

#[tokio::test]
async fn members_levels_and_the_last_owner() {
    let app = TestApp::new().await;
    let project = app.project("proj", false).await;
    let (alice, alice_token) = app.user("alice").await;
    let (bob, _) = app.user("bob").await;
    let members = format!("/api/v4/projects/{project}/members");
    app.post(
        &members,
        ROOT_TOKEN,
        json!({"user_id": alice, "access_level": 40}),
    )
    .await
    .expect(201);
    assert_eq!(
        app.post(
            &members,
            ROOT_TOKEN,
            json!({"user_id": alice, "access_level": 30})
        )
        .await
        .expect(409),
        json!({"message": "Member already exists"})
    );
    assert_eq!(
        app.post(
            &members,
            ROOT_TOKEN,
            json!({"user_id": bob, "access_level": 35})
        )
        .await
        .expect(400),
        json!({"error": "access_level does not have a valid value"})
    );
    app.post(
        &members,
        ROOT_TOKEN,
        json!({"user_id": 999, "access_level": 30}),
    )
    .await
    .expect(404);
    app.post(
        &members,
        &alice_token,
        json!({"user_id": bob, "access_level": 50}),
    )
    .await
    .expect(403);
    let bob_member = app
        .post(
            &members,
            &alice_token,
            json!({"user_id": bob, "access_level": "30"}),
        )
        .await
        .expect(201);
    assert_eq!(
        (
            bob_member["access_level"].clone(),
            bob_member["username"].clone()
        ),
        (json!(30), json!("bob"))
    );
    let listed = app.get(&members, &alice_token).await.expect(200);
    assert_eq!(
        listed.as_array().map(|m| m
            .iter()
            .map(|x| x["access_level"].as_i64().unwrap_or(0))
            .collect::<Vec<_>>()),
        Some(vec![50, 40, 30])
    );
    app.put(
        &format!("{members}/{bob}"),
        &alice_token,
        json!({"access_level": 20}),
    )
    .await
    .expect(200);
    // The last Owner (root, id 1) can be neither removed nor demoted, not even by an administrator.
    app.delete(&format!("{members}/1"), ROOT_TOKEN)
        .await
        .expect(403);
    app.put(
        &format!("{members}/1"),
        ROOT_TOKEN,
        json!({"access_level": 40}),
    )
    .await
    .expect(403);
    app.delete(&format!("{members}/{bob}"), &alice_token)
        .await
        .expect(204);
    app.delete(&format!("{members}/{bob}"), &alice_token)
        .await
        .expect(404);
}

#[tokio::test]
async fn protected_branches_with_wildcards_and_encoded_names() {
    let app = TestApp::new().await;
    let project = app.project("proj", false).await;
    let uri = format!("/api/v4/projects/{project}/protected_branches");
    let created = app
        .post(&uri, ROOT_TOKEN, json!({"name": "release/*"}))
        .await
        .expect(201);
    assert_eq!(
        (created["name"].clone(), created["project_id"].clone()),
        (json!("release/*"), json!(project))
    );
    assert_eq!(
        app.post(&uri, ROOT_TOKEN, json!({"name": "release/*"}))
            .await
            .expect(409),
        json!({"message": "Protected branch 'release/*' already exists"})
    );
    assert_eq!(
        app.post(&uri, ROOT_TOKEN, json!({})).await.expect(400),
        json!({"error": "name is missing"})
    );
    assert_eq!(
        app.get(&format!("{uri}/release%2F*"), ROOT_TOKEN)
            .await
            .expect(200)["id"],
        created["id"]
    );
    app.get(&format!("{uri}/release%2F1"), ROOT_TOKEN)
        .await
        .expect(404);

    let check = app
        .check(
            project,
            "QA",
            "https://qa.example.com",
            &[created["id"].as_i64().unwrap()],
        )
        .await;
    app.delete(&format!("{uri}/release%2F*"), ROOT_TOKEN)
        .await
        .expect(204);
    let checks = app
        .get(
            &format!("/api/v4/projects/{project}/external_status_checks"),
            ROOT_TOKEN,
        )
        .await
        .expect(200);
    assert_eq!(
        (
            checks[0]["id"].clone(),
            checks[0]["protected_branches"].clone()
        ),
        (json!(check), json!([])),
        "the check now applies to all branches"
    );
}

#[tokio::test]
async fn merge_requests_numbered_per_project_updated_and_filtered() {
    let app = TestApp::new().await;
    let project = app.project("proj", false).await;
    let uri = format!("/api/v4/projects/{project}/merge_requests");
    assert_eq!(
        app.post(&uri, ROOT_TOKEN, json!({"title": "t"}))
            .await
            .expect(400),
        json!({"error": "source_branch is missing, target_branch is missing, sha is missing"})
    );
    assert_eq!(
        app.post(
            &uri,
            ROOT_TOKEN,
            json!({"title": "t", "source_branch": "a", "target_branch": "b", "sha": "abc"})
        )
        .await
        .expect(400),
        json!({"error": "sha is invalid"})
    );
    assert_eq!(
        app.post(
            &uri,
            ROOT_TOKEN,
            json!({"title": "t", "source_branch": "a", "target_branch": "a", "sha": HEAD})
        )
        .await
        .expect(422),
        json!({"message": ["You can't use same project/branch for source and target"]})
    );
    let sha256 = "ab".repeat(32);
    let first = app
        .post(
            &uri,
            ROOT_TOKEN,
            json!({"title": "First", "source_branch": "a", "target_branch": "main", "sha": sha256}),
        )
        .await
        .expect(201);
    assert_eq!(
        (
            first["iid"].clone(),
            first["state"].clone(),
            first["sha"].clone()
        ),
        (json!(1), json!("opened"), json!(sha256))
    );
    assert_eq!(
        first["web_url"],
        "http://sc.test/grp/proj/-/merge_requests/1"
    );
    assert!(is_gitlab_time(&first["created_at"]) && first["merged_at"].is_null());
    assert_eq!(app.merge_request(project, "develop").await, 2);

    let closed = app
        .put(
            &format!("{uri}/1"),
            ROOT_TOKEN,
            json!({"state_event": "close", "title": "Closed one"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (closed["state"].clone(), closed["title"].clone()),
        (json!("closed"), json!("Closed one"))
    );
    assert_eq!(
        app.put(
            &format!("{uri}/1"),
            ROOT_TOKEN,
            json!({"state_event": "explode"})
        )
        .await
        .expect(400),
        json!({"error": "state_event does not have a valid value"})
    );
    assert_eq!(
        app.get(&format!("{uri}?state=closed"), ROOT_TOKEN)
            .await
            .expect(200)
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        app.get(&format!("{uri}?state=opened"), ROOT_TOKEN)
            .await
            .expect(200)[0]["iid"],
        2
    );
    assert_eq!(
        app.get(&format!("{uri}?state=all"), ROOT_TOKEN)
            .await
            .expect(200)
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    app.get(&format!("{uri}?state=bogus"), ROOT_TOKEN)
        .await
        .expect(400);
    app.put(
        &format!("{uri}/1"),
        ROOT_TOKEN,
        json!({"state_event": "reopen"}),
    )
    .await
    .expect(200);
    let (dev, dev_token) = app.user("dev").await;
    app.member(project, dev, 20).await;
    app.get(&format!("{uri}/1"), &dev_token).await.expect(200);
    app.post(
        &uri,
        &dev_token,
        json!({"title": "t", "source_branch": "x", "target_branch": "y", "sha": HEAD}),
    )
    .await
    .expect(403);
}

#[tokio::test]
async fn pagination_headers_and_links_on_every_list() {
    let app = TestApp::new().await;
    let project = app.project("proj", false).await;
    for i in 0..5 {
        let (name, url) = (format!("c{i}"), format!("https://c{i}.example.com"));
        app.check(project, &name, &url, &[]).await;
    }
    let answer = app
        .get(
            &format!("/api/v4/projects/{project}/external_status_checks?per_page=2&page=2"),
            ROOT_TOKEN,
        )
        .await;
    assert_eq!(
        (
            answer.header("x-page"),
            answer.header("x-per-page"),
            answer.header("x-total"),
            answer.header("x-total-pages"),
            answer.header("x-next-page"),
            answer.header("x-prev-page")
        ),
        ("2", "2", "5", "3", "3", "1")
    );
    let link = answer.header("link").to_owned();
    assert!(link.contains(&format!("<http://sc.test/api/v4/projects/{project}/external_status_checks?page=3&per_page=2>; rel=\"next\"")), "{link}");
    assert!(
        link.contains("rel=\"first\"")
            && link.contains("rel=\"last\"")
            && link.contains("rel=\"prev\"")
    );
    let body = answer.expect(200);
    assert_eq!(
        body.as_array().map(|a| a
            .iter()
            .map(|c| c["name"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<_>>()),
        Some(vec!["c2".to_owned(), "c3".to_owned()])
    );

    let clamped = app
        .get(
            &format!("/api/v4/projects/{project}/external_status_checks?per_page=1000"),
            ROOT_TOKEN,
        )
        .await;
    assert_eq!(
        (clamped.header("x-per-page"), clamped.header("x-next-page")),
        ("100", "")
    );
    assert_eq!(
        app.get("/api/v4/projects?page=0", ROOT_TOKEN)
            .await
            .expect(400),
        json!({"error": "page is invalid"})
    );
    assert_eq!(
        app.get("/api/v4/projects?per_page=x", ROOT_TOKEN)
            .await
            .expect(400),
        json!({"error": "per_page is invalid"})
    );
    for list in [
        "/api/v4/users",
        "/api/v4/projects",
        "/api/v4/personal_access_tokens",
        &format!("/api/v4/projects/{project}/members"),
        &format!("/api/v4/projects/{project}/protected_branches"),
        &format!("/api/v4/projects/{project}/merge_requests"),
    ] {
        let answer = app.get(list, ROOT_TOKEN).await;
        assert_eq!(answer.header("x-page"), "1", "{list}");
        assert_ne!(answer.header("link"), "<none>", "{list}");
    }
}
