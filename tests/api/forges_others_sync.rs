//! A new Gitea, Forgejo or GitHub link mirrors every open pull request, once per forge: the forge's list is
//! read page by page (its `Link` header) with the link's token, each open pull request is mirrored, and its
//! HEAD hears the checks' state; `POST …/forge/sync` reads it again.

use crate::forge_support::{AGGREGATE, WAIT, create_project, eventually, put_link, with};
use crate::forges_others::{Bridge, Forge, PROJECT_PREFIX, Step, fake_of, link_body, per_forge};
use reqwest::Method;
use serde_json::{Value, json};
use status_checks_tests::fake_server::Fake;
use status_checks_tests::{ROOT_TOKEN, Service, database};

per_forge!(a_new_link_mirrors_every_open_pull_request_over_all_pages,);

/// An item of the forge's pull-request list: the opened fixture's pull request, renumbered.
fn listed(forge: Forge, number: i64, sha: &str, branch: &str, title: &str) -> Value {
    let pull = forge.fixture(Step::Opened)["pull_request"].clone();
    let page = match forge {
        Forge::Github => format!("https://github.com/octo-org/hello-world/pull/{number}"),
        _ => format!("https://gitea.example.org/octo-team/status-demo/pulls/{number}"),
    };
    with(
        pull,
        &[
            ("/number", json!(number)),
            ("/id", json!(5000 + number)),
            ("/head/sha", json!(sha)),
            ("/head/ref", json!(branch)),
            ("/title", json!(title)),
            ("/html_url", json!(page)),
        ],
    )
}

fn a_new_link_mirrors_every_open_pull_request_over_all_pages(forge: Forge) {
    let (_dir, db) = database();
    let fake = fake_of(forge);
    let story = forge.story();
    let open = [
        (
            11,
            "1111111111111111111111111111111111111111",
            "feature-a",
            "A",
        ),
        (
            12,
            "1212121212121212121212121212121212121212",
            "feature-b",
            "B",
        ),
        (
            13,
            "1313131313131313131313131313131313131313",
            "feature-c",
            "C",
        ),
        (
            14,
            "1414141414141414141414141414141414141414",
            "feature-d",
            "D",
        ),
        (
            15,
            "1515151515151515151515151515151515151515",
            "feature-e",
            "E",
        ),
    ];
    let mut items: Vec<Value> = open
        .iter()
        .map(|(n, sha, branch, title)| listed(forge, *n, sha, branch, title))
        .collect();
    // A closed one is not asked for.
    items.insert(
        2,
        with(
            listed(
                forge,
                9,
                "0909090909090909090909090909090909090909",
                "old",
                "Old",
            ),
            &[("/state", json!("closed"))],
        ),
    );
    // One from a fork since deleted: its head has no repository.
    items[4]["head"]["repo"] = Value::Null;
    fake.set_pulls(items);
    fake.set_page_size(2);
    let service = Service::start(&db, &["--allow-local-requests"]);
    let p = create_project(&service, PROJECT_PREFIX);
    put_link(&service, p, link_body(forge, &fake, story.token)).expect(201);
    let b = Bridge {
        _dir,
        service,
        fake,
        p,
        forge,
    };

    assert!(
        eventually(WAIT, || b.merge_requests().as_array().unwrap().len() == 5),
        "{}",
        b.merge_requests()
    );
    let mut found: Vec<(i64, String, String, String, String)> = b
        .merge_requests()
        .as_array()
        .unwrap()
        .iter()
        .map(|mr| {
            (
                mr["iid"].as_i64().unwrap(),
                mr["sha"].as_str().unwrap().to_owned(),
                mr["source_branch"].as_str().unwrap().to_owned(),
                mr["title"].as_str().unwrap().to_owned(),
                mr["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    let expected: Vec<(i64, String, String, String, String)> = open
        .iter()
        .map(|(n, sha, branch, title)| {
            (
                *n,
                (*sha).to_owned(),
                (*branch).to_owned(),
                (*title).to_owned(),
                "opened".to_owned(),
            )
        })
        .collect();
    assert_eq!(found, expected);

    let lists: Vec<_> = b
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(lists.len(), 3, "three pages: {lists:#?}");
    let (first_path, size) = match forge {
        Forge::Github => (
            format!("/repos/{}/pulls", story.repository),
            ("per_page", "100"),
        ),
        _ => (
            format!("/api/v1/repos/{}/pulls", story.repository),
            ("limit", "50"),
        ),
    };
    assert_eq!(lists[0].path, first_path);
    assert_eq!(lists[0].param(size.0), Some(size.1), "{:?}", lists[0]);
    for (request, page) in lists.iter().zip([None, Some("2"), Some("3")]) {
        assert_eq!(request.param("state"), Some("open"), "{request:?}");
        assert_eq!(request.param("page"), page, "{request:?}");
        assert_eq!(request.answered, 200);
        assert_eq!(
            request.header("authorization"),
            Some(b.fake.authorization().as_str())
        );
    }
    // No check applies: each HEAD reads success, posted on the base repository.
    for (_, sha, _, _) in &open {
        b.expect_state(sha, AGGREGATE, "success");
    }
    assert!(
        b.fake
            .statuses()
            .iter()
            .all(|post| post.sha != "0909090909090909090909090909090909090909")
    );
    for request in b.fake.status_requests() {
        let sha = request.path.rsplit('/').next().unwrap().to_owned();
        let number = open.iter().find(|(_, s, _, _)| *s == sha).unwrap().0;
        let page = match forge {
            Forge::Github => format!("https://github.com/octo-org/hello-world/pull/{number}"),
            _ => format!("https://gitea.example.org/octo-team/status-demo/pulls/{number}"),
        };
        assert_eq!(request.body["target_url"], page);
    }

    b.service
        .json(
            Method::POST,
            &format!("/api/v4/projects/{p}/forge/sync"),
            ROOT_TOKEN,
            json!({}),
        )
        .expect(202);
    assert!(b.fake.wait_until(
        |f| f.requests().iter().filter(|r| r.method == "GET").count() >= 6,
        WAIT
    ));
    assert_eq!(b.merge_requests().as_array().unwrap().len(), 5);
}
