//! A fake GitLab for the forge bridge's end-to-end tests: a real HTTP server on 127.0.0.1
//! ([`crate::fake_server`]) that records every request and answers the two calls the bridge makes as GitLab
//! does.
//!
//! - `POST /api/v4/projects/:id/statuses/:sha`, with GitLab's commit-status job state machine
//!   (`Ci::CreateCommitStatusService`): the job is the running or pending one of (project, sha, name, ref or
//!   pipeline), else a new one; `pending` on a pending job is refused with 400 `Cannot transition status via
//!   :enqueue from :pending`, a terminal state on a pending job finishes it, and a state after a terminal one
//!   starts a new job. The answer is 201 with the job.
//! - `GET /api/v4/projects/:id/merge_requests`, serving a configured list with GitLab's pagination headers
//!   (`X-Page`, `X-Per-Page`, `X-Next-Page` empty on the last page, `X-Prev-Page`, `X-Total`,
//!   `X-Total-Pages`, `Link`), at most [`FakeGitlab::set_page_size`] items a page whatever `per_page` asks.
//!
//! Every call needs `PRIVATE-TOKEN` equal to the configured token (else 401 `401 Unauthorized`). Switches:
//! [`FakeGitlab::set_down`] (503 to everything) and [`FakeGitlab::lock_next`] (409 to the next status posts).

use crate::fake_server::{Fake, FakeServer, Request, Response, lock, page_of, percent_decode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// A commit status post GitLab accepted.
#[derive(Debug, Clone)]
pub struct StatusPost {
    /// The project of the URL (`:id`, decoded).
    pub project: String,
    /// The commit.
    pub sha: String,
    /// `name` (or `context`).
    pub name: String,
    /// `state`.
    pub state: String,
    /// `ref`, if sent.
    pub ref_name: Option<String>,
    /// `pipeline_id`, if sent.
    pub pipeline_id: Option<i64>,
    /// The whole body, as sent.
    pub body: Value,
    /// The `PRIVATE-TOKEN` it came with.
    pub token: Option<String>,
    /// The job it created or moved.
    pub job_id: i64,
}

/// A commit status job (`GenericCommitStatus`).
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project: String,
    /// Its commit.
    pub sha: String,
    /// Its name.
    pub name: String,
    /// `ref:<branch>` or `pipeline:<id>`: the pipeline it lives in.
    pub target: String,
    /// `created`, `pending`, `running`, `success`, `failed`, `canceled`.
    pub status: String,
    /// Its description.
    pub description: Option<String>,
}

impl Job {
    fn is_active(&self) -> bool {
        matches!(self.status.as_str(), "created" | "pending" | "running")
    }
}

#[derive(Default)]
struct State {
    accepted: Vec<StatusPost>,
    jobs: Vec<Job>,
    down: bool,
    locked: usize,
    merge_requests: Vec<Value>,
    page_size: usize,
}

/// The fake GitLab.
#[derive(Clone)]
pub struct FakeGitlab {
    /// Its address.
    pub address: SocketAddr,
    /// The token every call must carry.
    pub token: String,
    /// The numeric id of the project it hosts.
    pub project_id: i64,
    /// That project's `path_with_namespace`.
    pub project_path: String,
    server: FakeServer,
    state: Arc<Mutex<State>>,
}

impl Fake for FakeGitlab {
    fn server(&self) -> &FakeServer {
        &self.server
    }
}

impl FakeGitlab {
    /// Starts a fake hosting one project (`project_id`, `project_path`), accepting `token`.
    pub fn start(token: &str, project_id: i64, project_path: &str) -> FakeGitlab {
        let bound = FakeServer::bind("the fake GitLab");
        let server = bound.server();
        let fake = FakeGitlab {
            address: server.address,
            token: token.to_owned(),
            project_id,
            project_path: project_path.to_owned(),
            server,
            state: Arc::new(Mutex::new(State {
                page_size: 100,
                ..State::default()
            })),
        };
        let handler = fake.clone();
        bound.serve(move |request| handler.answer(request));
        fake
    }

    /// `http://127.0.0.1:<port>/api/v4`: the `api_url` of a link to it.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v4", self.address)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// While `down`, everything is answered 503.
    pub fn set_down(&self, down: bool) {
        self.state().down = down;
    }

    /// The next `n` status posts (authenticated) are answered 409, as GitLab does when another update to
    /// the same commit status holds its lock.
    pub fn lock_next(&self, n: usize) {
        self.state().locked = n;
    }

    /// The merge requests `GET …/merge_requests` lists (items as the API shows them).
    pub fn set_merge_requests(&self, items: Vec<Value>) {
        self.state().merge_requests = items;
    }

    /// The most items a page of a list holds, whatever `per_page` asks (GitLab's own cap is 100).
    pub fn set_page_size(&self, size: usize) {
        self.state().page_size = size.max(1);
    }

    /// Puts a job in place as if it had been posted before (by another client, or by an earlier
    /// installation), under `ref:<ref_name>`.
    pub fn preset_job(&self, sha: &str, name: &str, ref_name: &str, status: &str) {
        let mut state = self.state();
        let id = next_job_id(&state);
        state.jobs.push(Job {
            id,
            project: self.project_id.to_string(),
            sha: sha.to_owned(),
            name: name.to_owned(),
            target: format!("ref:{ref_name}"),
            status: status.to_owned(),
            description: None,
        });
    }

    /// The status posts GitLab accepted (answered 201), in order.
    pub fn statuses(&self) -> Vec<StatusPost> {
        self.state().accepted.clone()
    }

    /// Every job so far.
    pub fn jobs(&self) -> Vec<Job> {
        self.state().jobs.clone()
    }

    /// The state of the newest job named `name` on `sha` (any ref or pipeline): what GitLab shows.
    pub fn latest_state(&self, sha: &str, name: &str) -> Option<String> {
        self.state()
            .jobs
            .iter()
            .filter(|j| j.sha == sha && j.name == name)
            .max_by_key(|j| j.id)
            .map(|j| j.status.clone())
    }

    fn answer(&self, request: &Request) -> Response {
        let mut state = self.state();
        if state.down {
            return Response::json(503, &json!({"message": "503 Service Unavailable"}));
        }
        if request.header("private-token") != Some(self.token.as_str()) {
            return Response::json(401, &json!({"message": "401 Unauthorized"}));
        }
        let segments: Vec<&str> = request.path.split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["", "api", "v4", "projects", project, "statuses", sha]) => {
                let Some(project) = self.project(project) else {
                    return Response::json(404, &json!({"message": "404 Project Not Found"}));
                };
                if state.locked > 0 {
                    state.locked -= 1;
                    return Response::json(
                        409,
                        &json!({"message": "Another update to this commit status is in progress"}),
                    );
                }
                post_status(&mut state, project, sha, request)
            }
            ("GET", ["", "api", "v4", "projects", project, "merge_requests"]) => {
                if self.project(project).is_none() {
                    return Response::json(404, &json!({"message": "404 Project Not Found"}));
                }
                list_merge_requests(&state, request)
            }
            _ => Response::json(404, &json!({"error": "404 Not Found"})),
        }
    }

    /// The hosted project's id, if `raw` (a URL segment: an id or an encoded path) names it.
    fn project(&self, raw: &str) -> Option<String> {
        let decoded = percent_decode(raw);
        (decoded == self.project_id.to_string() || decoded == self.project_path)
            .then(|| self.project_id.to_string())
    }
}

fn next_job_id(state: &State) -> i64 {
    state.jobs.iter().map(|j| j.id).max().unwrap_or(1000) + 1
}

/// `Ci::CreateCommitStatusService`: find the running or pending job of (project, sha, name, pipeline), or
/// build a new one, and fire the state's event on it.
fn post_status(state: &mut State, project: String, sha: &str, request: &Request) -> Response {
    let body = &request.body;
    let Some(state_word) = body.get("state").and_then(Value::as_str) else {
        return Response::json(400, &json!({"error": "state is missing"}));
    };
    let name = body
        .get("name")
        .or_else(|| body.get("context"))
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned();
    let ref_name = body.get("ref").and_then(Value::as_str).map(str::to_owned);
    let pipeline_id = body.get("pipeline_id").and_then(Value::as_i64);
    let target = match (pipeline_id, &ref_name) {
        (Some(id), _) => format!("pipeline:{id}"),
        (None, Some(branch)) => format!("ref:{branch}"),
        (None, None) => "ref:".to_owned(),
    };
    let existing = state.jobs.iter().rposition(|j| {
        j.project == project
            && j.sha == sha
            && j.name == name
            && j.target == target
            && j.is_active()
    });
    let from = existing
        .map_or("created", |i| state.jobs[i].status.as_str())
        .to_owned();
    // The state machine of `CommitStatus`.
    let (event, to) = match state_word {
        "pending" => ("enqueue", "pending"),
        "running" => ("run", "running"),
        "success" => ("success", "success"),
        "failed" => ("drop", "failed"),
        "canceled" => ("cancel", "canceled"),
        _ => {
            return Response::json(400, &json!({"error": "state does not have a valid value"}));
        }
    };
    let allowed = match event {
        "enqueue" => from == "created",
        // `enqueue` then `run!`.
        "run" => matches!(from.as_str(), "created" | "pending"),
        _ => matches!(from.as_str(), "created" | "pending" | "running"),
    };
    if !allowed {
        return Response::json(
            400,
            &json!({"message": format!(
                "Cannot transition status via :{event} from :{from} (Reason(s): Status cannot transition via \"{event}\")"
            )}),
        );
    }
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let index = match existing {
        Some(index) => index,
        None => {
            let id = next_job_id(state);
            state.jobs.push(Job {
                id,
                project: project.clone(),
                sha: sha.to_owned(),
                name: name.clone(),
                target: target.clone(),
                status: "created".into(),
                description: None,
            });
            state.jobs.len() - 1
        }
    };
    let job = &mut state.jobs[index];
    job.status = to.to_owned();
    job.description = description.clone();
    let job = job.clone();
    state.accepted.push(StatusPost {
        project,
        sha: sha.to_owned(),
        name: name.clone(),
        state: state_word.to_owned(),
        ref_name: ref_name.clone(),
        pipeline_id,
        body: body.clone(),
        token: request.header("private-token").map(str::to_owned),
        job_id: job.id,
    });
    let finished = matches!(to, "success" | "failed" | "canceled");
    Response::json(
        201,
        &json!({
            "id": job.id,
            "sha": sha,
            "ref": ref_name,
            "status": to,
            "name": name,
            "target_url": body.get("target_url").cloned().unwrap_or(Value::Null),
            "description": description,
            "created_at": "2022-01-17T15:47:40.000Z",
            "started_at": if to == "running" || finished { json!("2022-01-17T15:47:40.000Z") } else { Value::Null },
            "finished_at": if finished { json!("2022-01-17T15:47:41.000Z") } else { Value::Null },
            "allow_failure": false,
            "coverage": null,
            "pipeline_id": pipeline_id.unwrap_or(9000),
            "author": {"id": 1, "username": "status-checks-bot", "name": "status-checks bot", "state": "active"},
        }),
    )
}

/// `GET /projects/:id/merge_requests`: filtered by `state`, paginated.
fn list_merge_requests(state: &State, request: &Request) -> Response {
    let list = page_of(
        request,
        &state.merge_requests,
        "all",
        "per_page",
        20,
        state.page_size,
    );
    let (wanted, per_page, page, pages) = (list.wanted, list.per_page, list.page, list.pages);
    let next = if page < pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    let prev = if page > 1 {
        (page - 1).to_string()
    } else {
        String::new()
    };
    let mut answer = Response::json(200, &Value::Array(list.items));
    answer.headers.extend([
        ("X-Page".to_owned(), page.to_string()),
        ("X-Per-Page".to_owned(), per_page.to_string()),
        ("X-Next-Page".to_owned(), next),
        ("X-Prev-Page".to_owned(), prev),
        ("X-Total".to_owned(), list.total.to_string()),
        ("X-Total-Pages".to_owned(), pages.to_string()),
    ]);
    let link = |p: usize, rel: &str| {
        format!(
            "<http://gitlab.example{}?page={p}&per_page={per_page}&state={wanted}>; rel=\"{rel}\"",
            request.path
        )
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
    }
    if page < pages {
        links.push(link(page + 1, "next"));
    }
    links.push(link(1, "first"));
    links.push(link(pages, "last"));
    answer.headers.push(("Link".to_owned(), links.join(", ")));
    answer
}
