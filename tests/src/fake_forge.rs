//! A fake Gitea, Forgejo or GitHub for the forge bridge's end-to-end tests: a real HTTP server on 127.0.0.1
//! ([`crate::fake_server`]) hosting one repository, that records every request and answers the two calls
//! the bridge makes as the forge does.
//!
//! - `POST {api}/repos/:owner/:repo/statuses/:sha` (`state`, `context`, `description`, `target_url`): 201
//!   with the commit status. A post adds a row; what the forge shows for a (commit, context) is its newest
//!   row ("latest wins", as on Gitea and GitHub). A state the forge does not know (`failed`, `running`, …)
//!   is refused with 422, as is, on GitHub, a description over 140 characters.
//! - `GET {api}/repos/:owner/:repo/pulls?state=open`, serving a configured list filtered by `state`, at most
//!   [`FakeForge::set_page_size`] items a page ([`DEFAULT_PAGE_SIZE`] unless set) whatever `limit` (Gitea)
//!   or `per_page` (GitHub) asks, with the forge's `Link` header (`rel="next"`, `rel="last"`, …; GitHub's
//!   pages name the repository by id, `/repositories/:id/pulls`, which it also serves) and Gitea's
//!   `X-Total-Count`.
//!
//! `{api}` is `/api/v1` on Gitea and Forgejo and the root on GitHub. Every call needs the credentials
//! exactly as the flavour takes them — `Authorization: token <t>` on Gitea and Forgejo, `Authorization:
//! Bearer <t>` on GitHub — else 401 with the forge's message; GitHub also refuses a request without a
//! `User-Agent` (403) or naming an API version it does not have (400). Switches: [`FakeForge::set_down`]
//! (503 to everything), and scripted answers to the next status posts ([`FakeForge::status_once`],
//! [`FakeForge::script`]; see [`Scripted`] for GitHub's refusals).

use crate::fake_server::{Fake, FakeServer, Request, Response, lock, page_of, percent_decode};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// The REST API versions GitHub supports (`X-GitHub-Api-Version`).
const GITHUB_API_VERSIONS: [&str; 1] = ["2022-11-28"];

/// The most items a page of a list holds unless [`FakeForge::set_page_size`] says otherwise: small, so that
/// a few pull requests already span pages.
pub const DEFAULT_PAGE_SIZE: usize = 2;

/// Which forge the fake plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Gitea: API under `/api/v1`, `Authorization: token <t>`.
    Gitea,
    /// Forgejo: Gitea's API.
    Forgejo,
    /// GitHub: API at the root, `Authorization: Bearer <t>`.
    Github,
}

impl Flavour {
    /// The `forge` of a link to it.
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Gitea => "gitea",
            Flavour::Forgejo => "forgejo",
            Flavour::Github => "github",
        }
    }

    fn api_prefix(self) -> &'static str {
        match self {
            Flavour::Github => "",
            Flavour::Gitea | Flavour::Forgejo => "/api/v1",
        }
    }

    /// The states its status API takes.
    fn knows_state(self, state: &str) -> bool {
        match self {
            Flavour::Github => matches!(state, "error" | "failure" | "pending" | "success"),
            Flavour::Gitea | Flavour::Forgejo => matches!(
                state,
                "pending" | "success" | "error" | "failure" | "warning" | "skipped"
            ),
        }
    }
}

/// A commit status the forge accepted (a row).
#[derive(Debug, Clone)]
pub struct StatusPost {
    /// Its id.
    pub id: i64,
    /// `owner/repo` of the URL, decoded.
    pub repository: String,
    /// The commit.
    pub sha: String,
    /// `state`.
    pub state: String,
    /// `context` (`default` when not sent).
    pub context: String,
    /// `description`, if sent.
    pub description: Option<String>,
    /// `target_url`, if sent.
    pub target_url: Option<String>,
    /// The whole body, as sent.
    pub body: Value,
    /// The request it came with.
    pub request: Request,
}

/// A scripted answer to a status post: status, headers and JSON body.
#[derive(Debug, Clone)]
pub struct Scripted {
    /// The status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Value,
}

/// Seconds since the epoch.
pub fn epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Scripted {
    /// Any answer.
    pub fn new(status: u16, headers: &[(&str, &str)], body: Value) -> Scripted {
        Scripted {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body,
        }
    }

    /// GitHub's 401 to a token it does not know (revoked, expired).
    pub fn bad_credentials() -> Scripted {
        Scripted::new(
            401,
            &[],
            json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
        )
    }

    /// GitHub's secondary rate limit: `status` (403 or 429) with `Retry-After: <seconds>`.
    pub fn retry_after(status: u16, seconds: u64) -> Scripted {
        Scripted::new(
            status,
            &[("Retry-After", &seconds.to_string())],
            json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0C4A:2F1B:3E5D7A:4B1C2D:67CE9A10.",
                "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                "status": status.to_string(),
            }),
        )
    }

    /// GitHub's primary rate limit: 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` in
    /// `seconds` from now.
    pub fn rate_limited(seconds: u64) -> Scripted {
        let reset = (epoch_seconds() + seconds).to_string();
        Scripted::new(
            403,
            &[
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
                ("x-ratelimit-used", "5000"),
                ("x-ratelimit-resource", "core"),
            ],
            json!({
                "message": "API rate limit exceeded for installation ID 40102841.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                "status": "403",
            }),
        )
    }

    /// GitHub's 403 to a token without the permission: final.
    pub fn forbidden() -> Scripted {
        Scripted::new(
            403,
            &[
                ("x-ratelimit-remaining", "4987"),
                ("x-accepted-github-permissions", "statuses=write"),
            ],
            json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
                "status": "403",
            }),
        )
    }

    /// GitHub's 422 once a (commit, context) has 1000 statuses: final.
    pub fn max_statuses() -> Scripted {
        Scripted::new(
            422,
            &[],
            json!({
                "message": "Validation Failed",
                "errors": [{"resource": "Status", "code": "custom", "message": "This SHA and context has reached the maximum number of statuses."}],
                "documentation_url": "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
                "status": "422",
            }),
        )
    }
}

#[derive(Default)]
struct State {
    accepted: Vec<StatusPost>,
    down: bool,
    script: VecDeque<Scripted>,
    pulls: Vec<Value>,
    page_size: usize,
}

/// The fake forge.
#[derive(Clone)]
pub struct FakeForge {
    /// Its address.
    pub address: SocketAddr,
    /// What it plays.
    pub flavour: Flavour,
    /// The token every call must carry.
    pub token: String,
    /// The repository it hosts, `owner/repo`.
    pub repository: String,
    /// That repository's numeric id.
    pub repository_id: i64,
    server: FakeServer,
    state: Arc<Mutex<State>>,
}

impl Fake for FakeForge {
    fn server(&self) -> &FakeServer {
        &self.server
    }
}

impl FakeForge {
    /// Starts a fake `flavour` hosting `repository` (`owner/repo`, id `repository_id`), accepting `token`.
    pub fn start(flavour: Flavour, token: &str, repository: &str, repository_id: i64) -> FakeForge {
        let bound = FakeServer::bind("the fake forge");
        let server = bound.server();
        let fake = FakeForge {
            address: server.address,
            flavour,
            token: token.to_owned(),
            repository: repository.to_owned(),
            repository_id,
            server,
            state: Arc::new(Mutex::new(State {
                page_size: DEFAULT_PAGE_SIZE,
                ..State::default()
            })),
        };
        let handler = fake.clone();
        bound.serve(move |request| handler.answer(request));
        fake
    }

    /// The `api_url` of a link to it: `http://127.0.0.1:<port>/api/v1` (Gitea, Forgejo) or
    /// `http://127.0.0.1:<port>` (GitHub).
    pub fn api_url(&self) -> String {
        format!("http://{}{}", self.address, self.flavour.api_prefix())
    }

    /// `Authorization` as the flavour takes it.
    pub fn authorization(&self) -> String {
        match self.flavour {
            Flavour::Github => format!("Bearer {}", self.token),
            Flavour::Gitea | Flavour::Forgejo => format!("token {}", self.token),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// While `down`, everything is answered 503.
    pub fn set_down(&self, down: bool) {
        self.state().down = down;
    }

    /// The next status post (authenticated, to the hosted repository) is answered so.
    pub fn status_once(&self, status: u16, headers: &[(&str, &str)], body: Value) {
        self.script(vec![Scripted::new(status, headers, body)]);
    }

    /// The next status posts are answered with these, in order.
    pub fn script(&self, answers: Vec<Scripted>) {
        self.state().script.extend(answers);
    }

    /// The pull requests `GET …/pulls` lists (items as the API shows them).
    pub fn set_pulls(&self, items: Vec<Value>) {
        self.state().pulls = items;
    }

    /// The most items a page of a list holds, whatever the request asks.
    pub fn set_page_size(&self, size: usize) {
        self.state().page_size = size.max(1);
    }

    /// The statuses the forge accepted (answered 201), in order.
    pub fn statuses(&self) -> Vec<StatusPost> {
        self.state().accepted.clone()
    }

    /// The state the forge shows for `context` on `sha`: its newest row.
    pub fn latest_state(&self, sha: &str, context: &str) -> Option<String> {
        self.state()
            .accepted
            .iter()
            .rev()
            .find(|post| post.sha == sha && post.context == context)
            .map(|post| post.state.clone())
    }

    fn answer(&self, request: &Request) -> Response {
        let mut state = self.state();
        if state.down {
            return Response::text(503, "Service Unavailable");
        }
        if self.flavour == Flavour::Github {
            if request.header("user-agent").is_none_or(str::is_empty) {
                return Response::text(
                    403,
                    "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n",
                );
            }
            if let Some(version) = request
                .header("x-github-api-version")
                .filter(|v| !GITHUB_API_VERSIONS.contains(v))
            {
                return forge_json(
                    400,
                    json!({"message": format!("API version '{version}' is not supported."), "documentation_url": "https://docs.github.com/rest/overview/api-versions", "status": "400"}),
                );
            }
        }
        if request.header("authorization") != Some(self.authorization().as_str()) {
            return self.unauthorized(request);
        }
        let Some(rest) = request.path.strip_prefix(self.flavour.api_prefix()) else {
            return self.not_found();
        };
        let segments: Vec<String> = rest.split('/').map(percent_decode).collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["", "repos", owner, repo, "statuses", sha]) => {
                if !self.hosts(owner, repo) {
                    return self.not_found();
                }
                if let Some(scripted) = state.script.pop_front() {
                    let mut answer = forge_json(scripted.status, scripted.body);
                    answer.headers.extend(scripted.headers);
                    return answer;
                }
                self.post_status(&mut state, sha, request)
            }
            ("GET", ["", "repos", owner, repo, "pulls"]) if self.hosts(owner, repo) => {
                self.list_pulls(&state, request)
            }
            ("GET", ["", "repositories", id, "pulls"])
                if self.flavour == Flavour::Github && *id == self.repository_id.to_string() =>
            {
                self.list_pulls(&state, request)
            }
            _ => self.not_found(),
        }
    }

    /// Whether `owner/repo` is the hosted repository (names are not case sensitive on these forges).
    fn hosts(&self, owner: &str, repo: &str) -> bool {
        format!("{owner}/{repo}").eq_ignore_ascii_case(&self.repository)
    }

    fn unauthorized(&self, request: &Request) -> Response {
        match self.flavour {
            Flavour::Github => forge_json(
                401,
                json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
            ),
            Flavour::Gitea | Flavour::Forgejo => {
                let message = if request.header("authorization").is_none() {
                    "token is required"
                } else {
                    "user does not exist [uid: 0, name: ]"
                };
                forge_json(
                    401,
                    json!({"message": message, "url": format!("http://{}/api/swagger", self.address)}),
                )
            }
        }
    }

    fn not_found(&self) -> Response {
        match self.flavour {
            Flavour::Github => forge_json(
                404,
                json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
            ),
            Flavour::Gitea | Flavour::Forgejo => forge_json(
                404,
                json!({"errors": null, "message": "The target couldn't be found.", "url": format!("http://{}/api/swagger", self.address)}),
            ),
        }
    }

    fn unprocessable(&self, field: &str, message: &str) -> Response {
        match self.flavour {
            Flavour::Github => forge_json(
                422,
                json!({
                    "message": "Validation Failed",
                    "errors": [{"resource": "Status", "code": "custom", "field": field, "message": message}],
                    "documentation_url": "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
                    "status": "422",
                }),
            ),
            Flavour::Gitea | Flavour::Forgejo => forge_json(
                422,
                json!({"message": format!("[{field}]: {message}"), "url": format!("http://{}/api/swagger", self.address)}),
            ),
        }
    }

    fn post_status(&self, state: &mut State, sha: &str, request: &Request) -> Response {
        let body = &request.body;
        let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
        let Some(word) = text("state") else {
            return self.unprocessable("state", "state is required");
        };
        if !self.flavour.knows_state(&word) {
            return self.unprocessable("state", &format!("{word} is not a valid state"));
        }
        if !((sha.len() == 40 || sha.len() == 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())) {
            return self.unprocessable("sha", &format!("No commit found for SHA: {sha}"));
        }
        let description = text("description");
        if self.flavour == Flavour::Github
            && description
                .as_ref()
                .is_some_and(|d| d.chars().count() > 140)
        {
            return self.unprocessable(
                "description",
                "description is too long (maximum is 140 characters)",
            );
        }
        let context = text("context").unwrap_or_else(|| "default".to_owned());
        let target_url = text("target_url");
        let id = 9_000_000 + state.accepted.len() as i64 + 1;
        state.accepted.push(StatusPost {
            id,
            repository: self.repository.clone(),
            sha: sha.to_owned(),
            state: word.clone(),
            context: context.clone(),
            description: description.clone(),
            target_url: target_url.clone(),
            body: body.clone(),
            request: Request {
                answered: 201,
                ..request.clone()
            },
        });
        let url = format!(
            "http://{}{}/repos/{}/statuses/{sha}",
            self.address,
            self.flavour.api_prefix(),
            self.repository
        );
        let now = "2025-03-10T08:16:40Z";
        let answer = match self.flavour {
            Flavour::Github => json!({
                "url": url,
                "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4",
                "id": id,
                "node_id": format!("SC_kwDOABPHjc8AAAAI{id}"),
                "state": word,
                "description": description,
                "target_url": target_url,
                "context": context,
                "created_at": now,
                "updated_at": now,
                "creator": {"login": "status-checks[bot]", "id": 161_020_533, "type": "Bot", "site_admin": false},
            }),
            Flavour::Gitea | Flavour::Forgejo => json!({
                "id": id,
                "status": word,
                "target_url": target_url.unwrap_or_default(),
                "description": description.unwrap_or_default(),
                "url": url,
                "context": context,
                "creator": {"id": 9, "login": "status-checks-bot", "full_name": "", "username": "status-checks-bot"},
                "created_at": "2025-03-10T09:16:40+01:00",
                "updated_at": "2025-03-10T09:16:40+01:00",
            }),
        };
        forge_json(201, answer)
    }

    /// `GET …/pulls`: filtered by `state`, paginated with `Link`.
    fn list_pulls(&self, state: &State, request: &Request) -> Response {
        let size_param = match self.flavour {
            Flavour::Github => "per_page",
            Flavour::Gitea | Flavour::Forgejo => "limit",
        };
        let list = page_of(
            request,
            &state.pulls,
            "open",
            size_param,
            30,
            state.page_size,
        );
        let (wanted, asked, per_page) = (list.wanted, list.asked, list.per_page);
        let (page, pages, total) = (list.page, list.pages, list.total);
        let mut answer = forge_json(200, Value::Array(list.items));
        let mut links = Vec::new();
        let link = |p: usize, rel: &str| match self.flavour {
            Flavour::Github => format!(
                "<http://{}/repositories/{}/pulls?state={wanted}&per_page={asked}&page={p}>; rel=\"{rel}\"",
                self.address, self.repository_id
            ),
            Flavour::Gitea | Flavour::Forgejo => format!(
                "<http://{}/api/v1/repos/{}/pulls?limit={per_page}&page={p}&state={wanted}>; rel=\"{rel}\"",
                self.address, self.repository
            ),
        };
        if page < pages {
            links.push(link(page + 1, "next"));
            links.push(link(pages, "last"));
        }
        if page > 1 {
            links.push(link(1, "first"));
            links.push(link(page - 1, "prev"));
        }
        if !links.is_empty() {
            let separator = match self.flavour {
                Flavour::Github => ", ",
                Flavour::Gitea | Flavour::Forgejo => ",",
            };
            answer
                .headers
                .push(("Link".to_owned(), links.join(separator)));
        }
        if self.flavour != Flavour::Github {
            answer
                .headers
                .push(("X-Total-Count".to_owned(), total.to_string()));
            answer.headers.push((
                "Access-Control-Expose-Headers".to_owned(),
                "X-Total-Count, Link".to_owned(),
            ));
        }
        answer
    }
}

/// JSON as the forges send it: `application/json; charset=utf-8`.
fn forge_json(status: u16, body: Value) -> Response {
    Response::new(
        status,
        "application/json; charset=utf-8",
        body.to_string().into_bytes(),
    )
}
