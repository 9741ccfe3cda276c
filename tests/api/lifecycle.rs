//! The service as operators run it: bootstrap, a full status-check flow, restarts, SIGKILL, limits, health.

use reqwest::Method;
use serde_json::json;
use status_checks_tests::{ROOT_TOKEN, Service, database};

const HEAD: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const PUSHED: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[test]
fn the_whole_flow_survives_a_restart() {
    let (_dir, db) = database();
    let service = Service::start(&db, &[]);
    let s = &service;

    // Bootstrap: root exists with the given token; create a user with a token.
    assert_eq!(
        s.get("/api/v4/user", ROOT_TOKEN).expect(200)["username"],
        "root"
    );
    let alice = s
        .json(
            Method::POST,
            "/api/v4/users",
            ROOT_TOKEN,
            json!({"username": "alice", "name": "Alice"}),
        )
        .expect(201);
    let alice_id = alice["id"].as_i64().unwrap();
    let token = s
        .json(
            Method::POST,
            &format!("/api/v4/users/{alice_id}/personal_access_tokens"),
            ROOT_TOKEN,
            json!({"name": "ci", "scopes": ["api"]}),
        )
        .expect(201);
    let alice_token = token["token"].as_str().unwrap().to_owned();

    // A gated project, alice as Developer, a protected branch, two checks (one scoped elsewhere).
    let project = s.json(Method::POST, "/api/v4/projects", ROOT_TOKEN, json!({"name": "Demo", "namespace": "team", "only_allow_merge_if_all_status_checks_passed": true})).expect(201);
    let p = project["id"].as_i64().unwrap();
    s.json(
        Method::POST,
        &format!("/api/v4/projects/{p}/members"),
        ROOT_TOKEN,
        json!({"user_id": alice_id, "access_level": 30}),
    )
    .expect(201);
    let branches = format!("/api/v4/projects/{p}/protected_branches");
    let protect = |name: &str| {
        s.json(Method::POST, &branches, ROOT_TOKEN, json!({"name": name}))
            .expect(201)
    };
    let main = protect("main");
    let release = protect("release/*");
    let check = s.json(Method::POST, &format!("/api/v4/projects/{p}/external_status_checks"), ROOT_TOKEN, json!({"name": "QA", "external_url": "https://qa.example.com/hook?token=x", "protected_branch_ids": [main["id"]]})).expect(201);
    let c = check["id"].as_i64().unwrap();
    s.json(Method::POST, &format!("/api/v4/projects/{p}/external_status_checks"), ROOT_TOKEN, json!({"name": "Release", "external_url": "https://rel.example.com", "protected_branch_ids": [release["id"]]})).expect(201);

    // An MR into main: one applicable check, pending, and merging is blocked.
    let mr = s.json(Method::POST, "/api/v4/projects/team%2Fdemo/merge_requests", &alice_token, json!({"source_branch": "feature", "target_branch": "main", "title": "Feature", "sha": HEAD})).expect(201);
    let iid = mr["iid"].as_i64().unwrap();
    assert_eq!(mr["detailed_merge_status"], "status_checks_must_pass");
    let checks_uri = format!("/api/v4/projects/{p}/merge_requests/{iid}/status_checks");
    let statuses = s.get(&checks_uri, &alice_token).expect(200);
    assert_eq!(
        statuses,
        json!([{"id": c, "name": "QA", "external_url": "https://qa.example.com/hook", "status": "pending"}])
    );
    s.json(
        Method::PUT,
        &format!("/api/v4/projects/{p}/merge_requests/{iid}/merge"),
        &alice_token,
        json!({}),
    )
    .expect(405);

    // The external service answers; a stale SHA is refused.
    let respond = format!("/api/v4/projects/{p}/merge_requests/{iid}/status_check_responses");
    let answer = |sha: &str, status: &str| json!({"external_status_check_id": c, "sha": sha, "status": status});
    s.json(
        Method::POST,
        &respond,
        &alice_token,
        answer(PUSHED, "passed"),
    )
    .expect(409);
    s.json(Method::POST, &respond, &alice_token, answer(HEAD, "failed"))
        .expect(201);
    assert_eq!(
        s.get(&checks_uri, &alice_token).expect(200)[0]["status"],
        "failed"
    );
    s.json(
        Method::POST,
        &format!("/api/v4/projects/{p}/merge_requests/{iid}/status_checks/{c}/retry"),
        &alice_token,
        json!({}),
    )
    .expect(202);
    assert_eq!(
        s.get(&checks_uri, &alice_token).expect(200)[0]["status"],
        "pending"
    );
    s.json(Method::POST, &respond, &alice_token, answer(HEAD, "passed"))
        .expect(201);
    assert_eq!(
        s.get(
            &format!("/api/v4/projects/{p}/merge_requests/{iid}"),
            &alice_token
        )
        .expect(200)["detailed_merge_status"],
        "mergeable"
    );

    // A push makes it pending again.
    s.json(
        Method::PUT,
        &format!("/api/v4/projects/{p}/merge_requests/{iid}"),
        &alice_token,
        json!({"sha": PUSHED}),
    )
    .expect(200);
    assert_eq!(
        s.get(&checks_uri, &alice_token).expect(200)[0]["status"],
        "pending"
    );
    s.json(
        Method::POST,
        &respond,
        &alice_token,
        answer(PUSHED, "passed"),
    )
    .expect(201);

    // Graceful stop, then a new process on the same file finds everything.
    assert_eq!(service.terminate(), Some(0));
    let again = Service::start(&db, &[]);
    let statuses = again.get(&checks_uri, &alice_token).expect(200);
    assert_eq!(
        statuses[0]["status"], "passed",
        "responses and tokens survive a restart"
    );
    let mr = again
        .get(
            &format!("/api/v4/projects/{p}/merge_requests/{iid}"),
            &alice_token,
        )
        .expect(200);
    assert_eq!(
        (mr["sha"].clone(), mr["detailed_merge_status"].clone()),
        (json!(PUSHED), json!("mergeable"))
    );
    let merged = again
        .json(
            Method::PUT,
            &format!("/api/v4/projects/{p}/merge_requests/{iid}/merge"),
            &alice_token,
            json!({}),
        )
        .expect(200);
    assert_eq!(merged["state"], "merged");
    assert_eq!(
        again
            .get(
                &format!("/api/v4/projects/{p}/external_status_checks"),
                ROOT_TOKEN
            )
            .expect(200)
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        again.get("/api/v4/user", ROOT_TOKEN).expect(200)["username"],
        "root",
        "the root token is not re-created"
    );
}

#[test]
fn sigkill_loses_nothing_that_was_acknowledged() {
    let (_dir, db) = database();
    let service = Service::start(&db, &[]);
    let p = service
        .json(
            Method::POST,
            "/api/v4/projects",
            ROOT_TOKEN,
            json!({"name": "k"}),
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let c = service
        .json(
            Method::POST,
            &format!("/api/v4/projects/{p}/external_status_checks"),
            ROOT_TOKEN,
            json!({"name": "c", "external_url": "https://c.example.com"}),
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let mut last = Vec::new();
    for i in 0..30 {
        let sha = format!("{i:040x}");
        let mr = service.json(Method::POST, &format!("/api/v4/projects/{p}/merge_requests"), ROOT_TOKEN, json!({"source_branch": format!("b{i}"), "target_branch": "main", "title": "t", "sha": sha})).expect(201);
        let iid = mr["iid"].as_i64().unwrap();
        let status = if i % 2 == 0 { "passed" } else { "failed" };
        service
            .json(
                Method::POST,
                &format!("/api/v4/projects/{p}/merge_requests/{iid}/status_check_responses"),
                ROOT_TOKEN,
                json!({"external_status_check_id": c, "sha": sha, "status": status}),
            )
            .expect(201);
        last.push((iid, status));
    }
    service.kill();
    let again = Service::start(&db, &[]);
    for (iid, status) in last {
        assert_eq!(
            again
                .get(
                    &format!("/api/v4/projects/{p}/merge_requests/{iid}/status_checks"),
                    ROOT_TOKEN
                )
                .expect(200)[0]["status"],
            status,
            "MR {iid}"
        );
    }
    assert_eq!(
        again.get("/-/readiness", ROOT_TOKEN).expect(200)["status"],
        "ok"
    );
}

/// Group commit under load: 8 clients open merge requests as fast as they can while the service is killed
/// with SIGKILL. Every merge request acknowledged (201) is there after a restart, with the iid it was given —
/// a write is answered only after the commit that holds it.
#[test]
fn sigkill_under_concurrent_writes_loses_nothing_acknowledged() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (_dir, db) = database();
    let service = Service::start(&db, &[]);
    let p = service
        .json(
            Method::POST,
            "/api/v4/projects",
            ROOT_TOKEN,
            json!({"name": "load"}),
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let acknowledged: Mutex<Vec<(String, i64)>> = Mutex::new(Vec::new());
    let killed = AtomicBool::new(false);
    std::thread::scope(|s| {
        for client in 0..8 {
            let (service, acknowledged, killed) = (&service, &acknowledged, &killed);
            s.spawn(move || {
                for n in 0.. {
                    if killed.load(Ordering::Acquire) {
                        break;
                    }
                    let branch = format!("c{client}-{n}");
                    let body = json!({"source_branch": branch, "target_branch": "main", "title": "t", "sha": HEAD});
                    let sent = service
                        .request(
                            Method::POST,
                            &format!("/api/v4/projects/{p}/merge_requests"),
                            Some(ROOT_TOKEN),
                        )
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send();
                    // A request cut by the kill has no answer: it was not acknowledged.
                    let Ok(response) = sent else { break };
                    if response.status().as_u16() != 201 {
                        break;
                    }
                    let Ok(text) = response.text() else { break };
                    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
                    acknowledged
                        .lock()
                        .unwrap()
                        .push((branch, answer["iid"].as_i64().unwrap()));
                }
            });
        }
        // The kill, once a few hundred writes were acknowledged, while the clients keep writing.
        while acknowledged.lock().unwrap().len() < 300 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let status = std::process::Command::new("kill")
            .args(["-KILL", &service.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        killed.store(true, Ordering::Release);
    });
    service.kill();
    let acknowledged = acknowledged.into_inner().unwrap();
    let again = Service::start(&db, &[]);
    let mut iids: Vec<i64> = acknowledged.iter().map(|(_, iid)| *iid).collect();
    iids.sort_unstable();
    iids.dedup();
    assert_eq!(iids.len(), acknowledged.len(), "every iid given once");
    for (branch, iid) in &acknowledged {
        let mr = again
            .get(
                &format!("/api/v4/projects/{p}/merge_requests/{iid}"),
                ROOT_TOKEN,
            )
            .expect(200);
        assert_eq!(mr["source_branch"], branch.as_str(), "MR {iid}");
    }
    eprintln!(
        "{} acknowledged merge requests all found after SIGKILL",
        acknowledged.len()
    );
}

#[test]
fn health_metrics_limits_and_logs() {
    let (_dir, db) = database();
    let service = Service::start(&db, &["--max-body-size", "1KiB"]);
    let health = service
        .request(Method::GET, "/-/health", None)
        .send()
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.text().unwrap(), "GitLab OK");
    assert_eq!(
        service
            .send(service.request(Method::GET, "/-/liveness", None))
            .expect(200),
        json!({"status": "ok"})
    );
    assert_eq!(
        service
            .send(service.request(Method::GET, "/-/readiness", None))
            .expect(200),
        json!({"status": "ok", "db_check": [{"status": "ok"}]})
    );

    let big = json!({"name": "x".repeat(2048)});
    assert_eq!(
        service
            .json(Method::POST, "/api/v4/projects", ROOT_TOKEN, big)
            .expect(413),
        json!({"message": "413 Request Entity Too Large"})
    );
    // A token in the query string must never reach the logs.
    service
        .send(service.request(
            Method::GET,
            &format!("/api/v4/user?private_token={ROOT_TOKEN}"),
            None,
        ))
        .expect(200);
    let metrics = service.send(service.request(Method::GET, "/-/metrics", None));
    assert_eq!(metrics.status.as_u16(), 200);
    let text = service
        .request(Method::GET, "/-/metrics", None)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(text.contains("status_checks_http_requests_total{method=\"GET\",route=\"/api/v4/user\",status=\"200\"}"), "{text}");
    assert!(text.contains("status_checks_http_request_duration_seconds_bucket"));
    assert!(text.contains("status_checks_db_read_connections"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let logs = service.logs.lock().unwrap().join("\n");
    assert!(
        logs.contains("\"route\":\"/api/v4/user\""),
        "request spans carry the matched route: {logs}"
    );
    assert!(!logs.contains(ROOT_TOKEN), "tokens never reach the logs");
}
