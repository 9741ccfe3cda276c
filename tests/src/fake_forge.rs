//! A fake Gitea, Forgejo or GitHub for the forge bridge's end-to-end tests: a real HTTP server on 127.0.0.1
//! (one thread per connection, one request per connection, `connection: close`) hosting one repository,
//! that records every request and answers the two calls the bridge makes as the forge does.
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

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// One request the fake got.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query, as sent (still percent-encoded).
    pub path: String,
    /// The query's pairs, decoded.
    pub query: Vec<(String, String)>,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// The status it was answered with.
    pub answered: u16,
    /// When it arrived.
    pub at: Instant,
    /// When it arrived, by the wall clock (to compare with a rate limit's reset).
    pub received: SystemTime,
}

impl Request {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether it is a status post.
    pub fn is_status_post(&self) -> bool {
        self.method == "POST" && self.path.contains("/statuses/")
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
    requests: Vec<Request>,
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
    state: Arc<Mutex<State>>,
}

impl FakeForge {
    /// Starts a fake `flavour` hosting `repository` (`owner/repo`, id `repository_id`), accepting `token`.
    pub fn start(flavour: Flavour, token: &str, repository: &str, repository_id: i64) -> FakeForge {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake forge");
        let address = listener.local_addr().expect("its address");
        let fake = FakeForge {
            address,
            flavour,
            token: token.to_owned(),
            repository: repository.to_owned(),
            repository_id,
            state: Arc::new(Mutex::new(State {
                page_size: DEFAULT_PAGE_SIZE,
                ..State::default()
            })),
        };
        let server = fake.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
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
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    /// Every status post, whatever its answer.
    pub fn status_requests(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(Request::is_status_post)
            .collect()
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

    /// Polls `condition` every 50 ms until it holds (`true`) or `timeout` passes (`false`).
    pub fn wait_until(&self, condition: impl Fn(&FakeForge) -> bool, timeout: Duration) -> bool {
        let start = Instant::now();
        loop {
            if condition(self) {
                return true;
            }
            if start.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn serve(&self, mut stream: TcpStream) {
        let (at, received) = (Instant::now(), SystemTime::now());
        let Some((method, target, headers, raw)) = crate::read_http_request(&stream) else {
            return;
        };
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path.to_owned(), parse_query(query)),
            None => (target.clone(), Vec::new()),
        };
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        let mut request = Request {
            method,
            path,
            query,
            headers,
            body,
            answered: 0,
            at,
            received,
        };
        let answer = self.answer(&request);
        request.answered = answer.status;
        self.state().requests.push(request);
        let _ = stream.write_all(&answer.bytes());
        let _ = stream.flush();
    }

    fn answer(&self, request: &Request) -> Answer {
        let mut state = self.state();
        if state.down {
            return Answer::text(503, "Service Unavailable");
        }
        if self.flavour == Flavour::Github {
            if request.header("user-agent").is_none_or(str::is_empty) {
                return Answer::text(
                    403,
                    "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n",
                );
            }
            if let Some(version) = request
                .header("x-github-api-version")
                .filter(|v| !GITHUB_API_VERSIONS.contains(v))
            {
                return Answer::json(
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
                    let mut answer = Answer::json(scripted.status, scripted.body);
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

    fn unauthorized(&self, request: &Request) -> Answer {
        match self.flavour {
            Flavour::Github => Answer::json(
                401,
                json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
            ),
            Flavour::Gitea | Flavour::Forgejo => {
                let message = if request.header("authorization").is_none() {
                    "token is required"
                } else {
                    "user does not exist [uid: 0, name: ]"
                };
                Answer::json(
                    401,
                    json!({"message": message, "url": format!("http://{}/api/swagger", self.address)}),
                )
            }
        }
    }

    fn not_found(&self) -> Answer {
        match self.flavour {
            Flavour::Github => Answer::json(
                404,
                json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
            ),
            Flavour::Gitea | Flavour::Forgejo => Answer::json(
                404,
                json!({"errors": null, "message": "The target couldn't be found.", "url": format!("http://{}/api/swagger", self.address)}),
            ),
        }
    }

    fn unprocessable(&self, field: &str, message: &str) -> Answer {
        match self.flavour {
            Flavour::Github => Answer::json(
                422,
                json!({
                    "message": "Validation Failed",
                    "errors": [{"resource": "Status", "code": "custom", "field": field, "message": message}],
                    "documentation_url": "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
                    "status": "422",
                }),
            ),
            Flavour::Gitea | Flavour::Forgejo => Answer::json(
                422,
                json!({"message": format!("[{field}]: {message}"), "url": format!("http://{}/api/swagger", self.address)}),
            ),
        }
    }

    fn post_status(&self, state: &mut State, sha: &str, request: &Request) -> Answer {
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
        Answer::json(201, answer)
    }

    /// `GET …/pulls`: filtered by `state`, paginated with `Link`.
    fn list_pulls(&self, state: &State, request: &Request) -> Answer {
        let wanted = request.param("state").unwrap_or("open");
        let items: Vec<&Value> = state
            .pulls
            .iter()
            .filter(|pr| wanted == "all" || pr.get("state").and_then(Value::as_str) == Some(wanted))
            .collect();
        let size_param = match self.flavour {
            Flavour::Github => "per_page",
            Flavour::Gitea | Flavour::Forgejo => "limit",
        };
        let asked = request
            .param(size_param)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let per_page = asked.min(state.page_size);
        let page = request
            .param("page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let total = items.len();
        let pages = total.div_ceil(per_page).max(1);
        let shown: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .cloned()
            .collect();
        let mut answer = Answer::json(200, Value::Array(shown));
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

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(status: u16, body: Value) -> Answer {
        Answer {
            status,
            headers: vec![(
                "Content-Type".to_owned(),
                "application/json; charset=utf-8".to_owned(),
            )],
            body: body.to_string().into_bytes(),
        }
    }

    fn text(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: vec![("Content-Type".to_owned(), "text/plain".to_owned())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            201 => "Created",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            422 => "Unprocessable Entity",
            429 => "Too Many Requests",
            503 => "Service Unavailable",
            _ => "Status",
        };
        let mut head = format!("HTTP/1.1 {} {reason}\r\n", self.status);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// `%2F` → `/`, `+` → space.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The HMAC-SHA256 of `body` keyed with `secret`, in lowercase hex: how Gitea, Forgejo and GitHub sign a
/// webhook delivery (RFC 2104 over FIPS 180-4; the test crate carries no crypto dependency).
pub fn hmac_sha256_hex(secret: &[u8], body: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut key = [0u8; BLOCK];
    if secret.len() > BLOCK {
        key[..32].copy_from_slice(&sha256(secret));
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    let mut inner: Vec<u8> = key.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(body);
    let mut outer: Vec<u8> = key.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha256(&inner));
    sha256(&outer).iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 (FIPS 180-4).
fn sha256(message: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut data = message.to_vec();
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend_from_slice(&((message.len() as u64) * 8).to_be_bytes());
    for chunk in data.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (state, add) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *state = state.wrapping_add(add);
        }
    }
    let mut out = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}
