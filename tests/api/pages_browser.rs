//! The pages in a real browser: headless Chromium driven through chromedriver (WebDriver), against the real
//! binary. A developer signs in with the form, opens the merge request page, sees the check go from pending
//! to passed after an E6 answer without reloading, retries the failed check with its button, and signs out;
//! a non-member sees the 404 page.
//!
//! Needs `chromium` and `chromedriver` (Debian's `chromium` and `chromium-driver`; `.ci/run` installs them;
//! `STATUS_CHECKS_CHROMEDRIVER` names another driver). Without them the test prints a notice and passes
//! locally, but fails under `CI=true`.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use status_checks_tests::{ROOT_TOKEN, Service, database, free_port};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::runtime::Builder;

const HEAD: &str = "cccccccccccccccccccccccccccccccccccccccc";
const MR_PAGE: &str = "/team/demo/-/merge_requests/1";

/// chromedriver, if this machine has it.
fn chromedriver() -> Option<PathBuf> {
    let candidates = std::env::var_os("STATUS_CHECKS_CHROMEDRIVER")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].map(PathBuf::from));
    candidates.into_iter().find(|path| path.exists())
}

/// A running chromedriver, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(path: &PathBuf) -> Driver {
        let port = free_port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session.
async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"] }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .unwrap()
}

/// The text of the first element `css` names, waiting for it up to 10 s.
async fn text_of(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Waits up to 20 s, without reloading, until the text of `css` contains `wanted`.
async fn until_text(client: &Client, css: &str, wanted: &str) {
    let started = Instant::now();
    loop {
        let text = text_of(client, css).await;
        if text.contains(wanted) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{css} still reads {text:?}, not {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Signs in through the form, as a person does, and lands on `then`.
async fn sign_in(client: &Client, base: &str, token: &str, then: &str) {
    client
        .goto(&format!("{base}/users/sign_in?redirect_to={then}"))
        .await
        .unwrap();
    client
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    client
        .find(Locator::Css(
            "form[action='/users/sign_in'] button[type=submit]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let started = Instant::now();
    while client.current_url().await.unwrap().path() != then {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "signing in did not lead to {then}: {}",
            client.source().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn token_of(service: &Service, username: &str) -> String {
    let user = service
        .json(
            reqwest::Method::POST,
            "/api/v4/users",
            ROOT_TOKEN,
            json!({ "username": username, "name": username }),
        )
        .expect(201);
    let token = service
        .json(
            reqwest::Method::POST,
            &format!("/api/v4/users/{}/personal_access_tokens", user["id"]),
            ROOT_TOKEN,
            json!({ "name": "browser", "scopes": ["api"] }),
        )
        .expect(201);
    if username == "alice" {
        service
            .json(
                reqwest::Method::POST,
                "/api/v4/projects/1/members",
                ROOT_TOKEN,
                json!({ "user_id": user["id"], "access_level": 30 }),
            )
            .expect(201);
    }
    token["token"].as_str().unwrap().to_owned()
}

fn answer(service: &Service, status: &str) -> Value {
    service
        .json(
            reqwest::Method::POST,
            "/api/v4/projects/1/merge_requests/1/status_check_responses",
            ROOT_TOKEN,
            json!({ "external_status_check_id": 1, "sha": HEAD, "status": status }),
        )
        .expect(201)
}

#[test]
fn a_developer_follows_a_check_and_retries_it_in_a_browser() {
    let Some(chromedriver) = chromedriver() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs chromedriver for the browser tests (Debian: chromium-driver)"
        );
        eprintln!("no chromedriver on this machine: the browser test is skipped");
        return;
    };
    let (_dir, db) = database();
    let service = Service::start(&db, &[]);
    let base = service.base.clone();
    let post = |path: &str, body: Value| {
        service
            .json(reqwest::Method::POST, path, ROOT_TOKEN, body)
            .expect(201)
    };
    post(
        "/api/v4/projects",
        json!({ "name": "demo", "namespace": "team", "only_allow_merge_if_all_status_checks_passed": true }),
    );
    post(
        "/api/v4/projects/1/external_status_checks",
        json!({ "name": "compliance", "external_url": "https://compliance.example.com/hook" }),
    );
    post(
        "/api/v4/projects/1/merge_requests",
        json!({ "source_branch": "feature", "target_branch": "main", "title": "Feature", "sha": HEAD }),
    );
    let alice = token_of(&service, "alice");
    let bob = token_of(&service, "bob");

    let driver = Driver::start(&chromedriver);
    let runtime = Builder::new_current_thread().enable_all().build().unwrap();
    let client = runtime.block_on(async {
        let client = browser(&driver).await;
        sign_in(&client, &base, &alice, MR_PAGE).await;
        let url = client.current_url().await.unwrap();
        assert_eq!(
            url.path(),
            MR_PAGE,
            "the form leads back to the page asked for"
        );
        assert!(text_of(&client, "header.top").await.contains("@alice"));
        assert!(text_of(&client, "h1").await.contains("Feature"));
        until_text(&client, "#status-checks tr[data-check='1']", "pending").await;
        assert!(text_of(&client, "#merge-status").await.contains("Blocked"));
        client
    });

    // The external service answers; the open page shows it without a reload.
    answer(&service, "passed");
    runtime.block_on(async {
        until_text(&client, "#status-checks tr[data-check='1']", "passed").await;
        until_text(&client, "#merge-status", "Ready to merge").await;
    });

    // It changes its mind; the failed check gets a Retry button, and the button retries it.
    answer(&service, "failed");
    runtime.block_on(async {
        until_text(&client, "#status-checks tr[data-check='1']", "failed").await;
        client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#status-checks button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until_text(&client, "#status-checks tr[data-check='1']", "pending").await;
        assert_eq!(client.current_url().await.unwrap().path(), MR_PAGE);
        assert!(text_of(&client, "#history").await.contains("retried"));
    });
    let checks = service
        .get(
            "/api/v4/projects/1/merge_requests/1/status_checks",
            ROOT_TOKEN,
        )
        .expect(200);
    assert_eq!(checks[0]["status"], "pending", "the retry went through E7");

    runtime.block_on(async {
        // Sign out: the pages are closed again.
        client
            .find(Locator::Css("form[action='/users/sign_out'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#token"))
            .await
            .unwrap();
        client.goto(&format!("{base}{MR_PAGE}")).await.unwrap();
        assert_eq!(text_of(&client, "h1").await, "Page not found");

        // A non-member: the 404 page, as the API's 404.
        sign_in(&client, &base, &bob, MR_PAGE).await;
        assert_eq!(text_of(&client, "h1").await, "Page not found");
        assert!(!client.source().await.unwrap().contains("compliance"));
        client.goto(&format!("{base}/")).await.unwrap();
        assert!(text_of(&client, "header.top").await.contains("@bob"));
        assert!(
            text_of(&client, "main")
                .await
                .contains("not a member of any project")
        );
        client.close().await.unwrap();
    });
}
