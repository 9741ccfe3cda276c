//! Support for the end-to-end tests: start the real `status-checks` binary on a free port with a temporary
//! database (SQLite, or a PostgreSQL URL), talk to it over HTTP, stop it (gracefully or with SIGKILL), and
//! start it again on the same data.
//!
//! The binary is the one `cargo test --workspace` builds next to this test binary
//! (`target/<profile>/status-checks`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: a panic is how a test fails"
)]

pub mod fake_forge;
pub mod fake_gitlab;
pub mod fake_server;
pub mod hmac;

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The root token every test service is bootstrapped with.
pub const ROOT_TOKEN: &str = "e2e-root-token-0123456789";

/// Where `cargo` put the binary: next to the `deps/` folder of the running test.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = profile_dir.join(format!("status-checks{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds it",
        binary.display()
    );
    binary
}

/// A running `status-checks serve`.
pub struct Service {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Every log line so far.
    pub logs: Arc<Mutex<Vec<String>>>,
    http: Client,
}

/// An answer: status and JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body.
    pub body: Value,
}

impl Answer {
    /// The body, after checking the status.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self.body
    }
}

impl Service {
    /// Starts the binary on the SQLite database `database` with `extra` flags, and waits for `listening on`.
    pub fn start(database: &Path, extra: &[&str]) -> Service {
        Service::start_url(&format!("sqlite://{}", database.display()), extra)
    }

    /// Starts the binary on the database at `database_url` (SQLite or PostgreSQL) with `extra` flags, and
    /// waits for `listening on`.
    pub fn start_url(database_url: &str, extra: &[&str]) -> Service {
        let mut child = Command::new(binary())
            .arg("serve")
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--root-token",
                ROOT_TOKEN,
            ])
            .arg("--database-url")
            .arg(database_url)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let lines = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let address: String = rest
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    let _ = address_tx.send(address);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let stderr = child.stderr.take().unwrap();
        let errors = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                errors.lock().unwrap().push(line);
            }
        });
        let Ok(address) = address_rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("the service did not start: {:?}", logs.lock().unwrap());
        };
        let http = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Service {
            child,
            base: format!("http://{address}"),
            logs,
            http,
        }
    }

    /// A request to `path` (relative to the base) with the given token.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let mut builder = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            builder = builder.header("PRIVATE-TOKEN", token);
        }
        builder
    }

    /// Sends and reads the answer.
    pub fn send(&self, builder: RequestBuilder) -> Answer {
        let response = builder.send().unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// `GET` with a token.
    pub fn get(&self, path: &str, token: &str) -> Answer {
        self.send(self.request(Method::GET, path, Some(token)))
    }

    /// A JSON request with a token.
    pub fn json(&self, method: Method, path: &str, token: &str, body: Value) -> Answer {
        self.send(
            self.request(method, path, Some(token))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait; returns the exit status code.
    pub fn terminate(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        status.code()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory with a database path in it.
pub fn database() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e2e.db");
    (dir, path)
}

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        fake_server::lookup(&self.headers, name)
    }
}

/// A minimal HTTP receiver for notifications on 127.0.0.1 (one thread, one request per connection),
/// answering 200 to everything and recording what it got.
pub struct Receiver {
    /// Its address.
    pub address: std::net::SocketAddr,
    /// What it got.
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Listens on `address` (`127.0.0.1:0` for any port).
    pub fn start(address: &str) -> Receiver {
        let listener = std::net::TcpListener::bind(address).unwrap();
        let address = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                if let Some(request) = read_request(&stream) {
                    log.lock().unwrap().push(request);
                }
                let mut stream = stream;
                let _ = std::io::Write::write_all(
                    &mut stream,
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Receiver { address, received }
    }

    /// Waits until it got `count` requests (or 30 s pass) and returns them.
    pub fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..300 {
            if self.received.lock().unwrap().len() >= count {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.received.lock().unwrap().clone()
    }
}

fn read_request(stream: &std::net::TcpStream) -> Option<Received> {
    let (_, _, headers, body) = read_http_request(stream)?;
    Some(Received { headers, body })
}

/// An HTTP request as read: method, target, headers (names in lower case) and body.
pub(crate) type HttpRequest = (String, String, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 request read off `stream`: method, target, headers (names in lower case) and body (by
/// `Content-Length`); `None` if it breaks off or is not HTTP. What the test servers here share.
pub(crate) fn read_http_request(stream: &std::net::TcpStream) -> Option<HttpRequest> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    std::io::Read::read_exact(&mut reader, &mut body).ok()?;
    Some((method, target, headers, body))
}

/// A free port on 127.0.0.1 (free when this returns; nothing keeps it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A PostgreSQL database made for one test (`status_checks_postgres::testing`), dropped when this goes out of
/// scope — declare it before the services that use it, so that they stop first.
pub struct PostgresDatabase(Option<status_checks_postgres::testing::TestDatabase>);

impl PostgresDatabase {
    /// A new database on the server `STATUS_CHECKS_TEST_POSTGRES_URL` names; `None` after a notice when
    /// there is none, except under `CI=true`, where that fails the test.
    pub fn create(test: &str) -> Option<PostgresDatabase> {
        let test = test.to_owned();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(status_checks_postgres::testing::TestDatabase::create(&test))
        })
        .join()
        .unwrap()
        .map(|db| PostgresDatabase(Some(db)))
    }

    /// Its URL, to start `serve` with.
    pub fn url(&self) -> &str {
        self.0.as_ref().map_or("", |db| db.url())
    }

    /// Drops the database now, under whatever still uses it.
    pub fn drop_now(&mut self) {
        if let Some(db) = self.0.take() {
            db.drop_blocking();
        }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        self.drop_now();
    }
}
