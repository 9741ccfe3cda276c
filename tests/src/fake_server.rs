//! What the fake forges share: a small HTTP server on 127.0.0.1 (one thread per connection, one request per
//! connection, `connection: close`) that hands every request to a handler, answers with the handler's
//! [`Response`] and records the [`Request`] with the status it was answered with; a list's pagination; and
//! [`wait_until`], to poll a fake until it saw what a test waits for.

use serde_json::Value;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// One request a fake got.
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
        lookup(&self.headers, name)
    }

    /// A query parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        lookup(&self.query, name)
    }

    /// Whether it is a status post.
    pub fn is_status_post(&self) -> bool {
        self.method == "POST" && self.path.contains("/statuses/")
    }
}

/// The value of the first pair named `name`.
pub(crate) fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// An answer: status, headers and body (`Content-Length` and `Connection: close` are added when sent).
#[derive(Debug, Clone)]
pub struct Response {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// `body` as `content_type`.
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
            body,
        }
    }

    /// JSON as `application/json`.
    pub fn json(status: u16, body: &Value) -> Response {
        Response::new(status, "application/json", body.to_string().into_bytes())
    }

    /// Plain text.
    pub fn text(status: u16, body: &str) -> Response {
        Response::new(status, "text/plain", body.as_bytes().to_vec())
    }

    /// The bytes on the wire.
    fn bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            201 => "Created",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            409 => "Conflict",
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

/// A running fake server: its address and what it got.
#[derive(Clone)]
pub struct FakeServer {
    /// Its address.
    pub address: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
}

/// A server bound to its port that does not answer yet: a fake knows its address before it serves.
pub struct Bound {
    server: FakeServer,
    listener: TcpListener,
}

impl FakeServer {
    /// Binds a free port on 127.0.0.1 for `what` (named if that fails).
    pub fn bind(what: &str) -> Bound {
        let listener =
            TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind {what}: {e}"));
        let address = listener.local_addr().expect("its address");
        Bound {
            server: FakeServer {
                address,
                requests: Arc::default(),
            },
            listener,
        }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.requests).clone()
    }

    fn serve(&self, mut stream: TcpStream, handler: &dyn Fn(&Request) -> Response) {
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
        let response = handler(&request);
        request.answered = response.status;
        lock(&self.requests).push(request);
        let _ = stream.write_all(&response.bytes());
        let _ = stream.flush();
    }
}

impl Bound {
    /// The server, to keep beside the handler's state.
    pub fn server(&self) -> FakeServer {
        self.server.clone()
    }

    /// Answers every connection with `handler`, each on its own thread, from now on.
    pub fn serve(self, handler: impl Fn(&Request) -> Response + Send + Sync + 'static) {
        let Bound { server, listener } = self;
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (server, handler) = (server.clone(), handler.clone());
                std::thread::spawn(move || server.serve(stream, &*handler));
            }
        });
    }
}

/// What every fake answers from its [`FakeServer`]: the requests it got, and waiting until it got what a
/// test waits for.
pub trait Fake: Sized {
    /// The server it answers on.
    fn server(&self) -> &FakeServer;

    /// Every request so far, in arrival order.
    fn requests(&self) -> Vec<Request> {
        self.server().requests()
    }

    /// Every status post, whatever its answer.
    fn status_requests(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(Request::is_status_post)
            .collect()
    }

    /// Polls `condition` every 50 ms until it holds (`true`) or `timeout` passes (`false`).
    fn wait_until(&self, condition: impl Fn(&Self) -> bool, timeout: Duration) -> bool {
        wait_until(|| condition(self), timeout)
    }
}

/// Locks `mutex`, even if a thread panicked holding it (a fake's state stays readable after a failed test
/// thread).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Polls `condition` every 50 ms until it holds (`true`) or `timeout` passes (`false`).
pub fn wait_until(condition: impl Fn() -> bool, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One page of a list, as a list endpoint serves it.
pub(crate) struct Page<'a> {
    /// The `state` asked for (or the default).
    pub(crate) wanted: &'a str,
    /// The page size asked for, within 1 to 100.
    pub(crate) asked: usize,
    /// The page size served: what was asked, at most the fake's cap.
    pub(crate) per_page: usize,
    /// This page's number, from 1.
    pub(crate) page: usize,
    /// How many pages there are (at least 1).
    pub(crate) pages: usize,
    /// How many items match `state`.
    pub(crate) total: usize,
    /// The items on this page.
    pub(crate) items: Vec<Value>,
}

/// The page `request` asks of `all`: those whose `state` is the `state` asked (`default_state` unless
/// given; `all` for any), `size_param` items a page (`default_size` unless given, 1 to 100, at most `cap`),
/// page `page` (1 unless given).
pub(crate) fn page_of<'a>(
    request: &'a Request,
    all: &[Value],
    default_state: &'a str,
    size_param: &str,
    default_size: usize,
    cap: usize,
) -> Page<'a> {
    let wanted = request.param("state").unwrap_or(default_state);
    let matching: Vec<&Value> = all
        .iter()
        .filter(|item| wanted == "all" || item.get("state").and_then(Value::as_str) == Some(wanted))
        .collect();
    let asked = request
        .param(size_param)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(default_size)
        .clamp(1, 100);
    let per_page = asked.min(cap);
    let page = request
        .param("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total = matching.len();
    let pages = total.div_ceil(per_page).max(1);
    let items = matching
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    Page {
        wanted,
        asked,
        per_page,
        page,
        pages,
        total,
        items,
    }
}

/// A query string's pairs, decoded.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
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
pub(crate) fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
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
