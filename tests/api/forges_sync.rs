//! A new GitLab link mirrors every open merge request: GitLab's list is read page by page with the link's
//! token, each open merge request is mirrored and its HEAD hears the checks' state (posted in the source
//! project); `POST …/forge/sync` reads it again.

use crate::forge_support::{
    AGGREGATE, WAIT, create_project, eventually, merge_requests, put_link, with,
};
use crate::forges::{FORGE_TOKEN, GL_PATH, GL_PROJECT, expect_state, fixture, link_body};
use reqwest::Method;
use serde_json::{Value, json};
use status_checks_tests::fake_gitlab::FakeGitlab;
use status_checks_tests::fake_server::Fake;
use status_checks_tests::{ROOT_TOKEN, Service, database};

#[test]
fn a_new_link_mirrors_every_open_merge_request_over_all_pages() {
    let (_dir, db) = database();
    let fake = FakeGitlab::start(FORGE_TOKEN, GL_PROJECT, GL_PATH);
    let listed = |iid: i64, sha: &str, branch: &str, title: &str| {
        with(
            fixture("api_merge_request"),
            &[
                ("/iid", json!(iid)),
                ("/id", json!(134400600 + iid)),
                ("/sha", json!(sha)),
                ("/source_branch", json!(branch)),
                ("/title", json!(title)),
                (
                    "/web_url",
                    json!(format!(
                        "https://gitlab.com/{GL_PATH}/-/merge_requests/{iid}"
                    )),
                ),
            ],
        )
    };
    let open = [
        (
            5,
            "5555555555555555555555555555555555555555",
            "feature-a",
            "A",
        ),
        (
            7,
            "7777777777777777777777777777777777777777",
            "feature-b",
            "B",
        ),
        (
            12,
            "1212121212121212121212121212121212121212",
            "feature-c",
            "C",
        ),
    ];
    let mut items: Vec<Value> = open
        .iter()
        .map(|(iid, sha, branch, title)| listed(*iid, sha, branch, title))
        .collect();
    // A closed one is not asked for.
    items.push(with(
        listed(2, "2222222222222222222222222222222222222222", "old", "Old"),
        &[("/state", json!("closed"))],
    ));
    fake.set_merge_requests(items);
    fake.set_page_size(2);
    let service = Service::start(&db, &["--allow-local-requests"]);
    let s = &service;
    let p = create_project(s, "bridged");
    put_link(s, p, link_body(&fake, GL_PATH, FORGE_TOKEN)).expect(201);

    assert!(
        eventually(WAIT, || merge_requests(s, p).as_array().unwrap().len() == 3),
        "{}",
        merge_requests(s, p)
    );
    let mirrored = merge_requests(s, p);
    let mut found: Vec<(i64, String, String, String)> = mirrored
        .as_array()
        .unwrap()
        .iter()
        .map(|mr| {
            (
                mr["iid"].as_i64().unwrap(),
                mr["sha"].as_str().unwrap().to_owned(),
                mr["source_branch"].as_str().unwrap().to_owned(),
                mr["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    let expected: Vec<(i64, String, String, String)> = open
        .iter()
        .map(|(iid, sha, branch, title)| {
            (
                *iid,
                (*sha).to_owned(),
                (*branch).to_owned(),
                (*title).to_owned(),
            )
        })
        .collect();
    assert_eq!(found, expected);

    let lists: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(lists.len(), 2, "two pages: {lists:#?}");
    for (request, page) in lists.iter().zip(["1", "2"]) {
        assert_eq!(
            request.path,
            "/api/v4/projects/anbraten%2Fwoodpecker/merge_requests"
        );
        assert_eq!(request.param("state"), Some("opened"));
        assert_eq!(request.param("page"), Some(page));
        assert_eq!(request.header("private-token"), Some(FORGE_TOKEN));
    }
    // No check applies: each HEAD reads success, posted in the source project.
    for (_, sha, _, _) in &open {
        expect_state(&fake, sha, AGGREGATE, "success");
    }
    assert!(
        fake.statuses()
            .iter()
            .all(|post| post.project == GL_PROJECT.to_string())
    );

    s.json(
        Method::POST,
        &format!("/api/v4/projects/{p}/forge/sync"),
        ROOT_TOKEN,
        json!({}),
    )
    .expect(202);
    assert!(fake.wait_until(
        |f| f.requests().iter().filter(|r| r.method == "GET").count() >= 4,
        WAIT
    ));
    assert_eq!(merge_requests(s, p).as_array().unwrap().len(), 3);
}
