//! One benchmark run: seed, serve, load with wrk, ceilings, table, `docs/benchmarks.md`.

use crate::{HEAD, ROOT_TOKEN};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to run.
pub struct Plan {
    pub out: String,
    pub seconds: u32,
    pub connections: u32,
    pub rounds: u32,
    pub large_merge_requests: u32,
    pub large_responses: u32,
    pub soak_seconds: u32,
    /// A PostgreSQL server (its user may create databases): with it, the PostgreSQL rows are measured too.
    pub postgres_url: Option<String>,
}

/// One wrk measurement.
#[derive(Debug, Clone, Default)]
struct Measure {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    requests: u64,
}

/// A server process this harness started: the service or a ceiling.
pub(crate) struct Server {
    child: Child,
    pub(crate) address: String,
}

impl Server {
    /// Starts `command` and waits until it listens and is ready; answers how long that took.
    pub(crate) fn start(mut command: Command) -> Result<(Server, Duration), String> {
        let started = Instant::now();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let address: String = rest
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    let _ = tx.send(address);
                }
            }
        });
        let address = rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| "the server did not start".to_string())?;
        // Ready when /-/readiness answers 200 (the ceilings have no such route: their listening line is enough).
        let ready = wait_ready(&address);
        let elapsed = started.elapsed();
        let server = Server { child, address };
        if !ready {
            return Err("the server never became ready".into());
        }
        Ok((server, elapsed))
    }

    /// Peak resident memory so far (VmHWM), in MiB.
    pub(crate) fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// CPU time it used so far, user and system, in seconds.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&format!("/proc/{}/stat", self.child.id()))
    }

    /// Stops it (SIGTERM) and waits for it to exit.
    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The user and system CPU time of the process whose `/proc/…/stat` is `stat`, in seconds (0 if unreadable);
/// the kernel counts it in ticks of 1/100 s (`CLK_TCK` on Linux).
pub(crate) fn cpu_seconds(stat: &str) -> f64 {
    let text = std::fs::read_to_string(stat).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces: state is field 3,
    // utime field 14, stime field 15.
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn wait_ready(address: &str) -> bool {
    for _ in 0..2000 {
        if let Ok(mut stream) = std::net::TcpStream::connect(address) {
            use std::io::{Read, Write};
            let _ = stream.write_all(
                format!(
                    "GET /-/readiness HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            // The app answers 200; a ceiling answers 404 for an unknown route, which also means "serving".
            if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.1 404") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn parse_latency(token: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = token.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = token.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = token.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

fn wrk(plan: &Plan, url: &str, script: &Path) -> Result<Measure, String> {
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{}", plan.connections),
            &format!("-d{}s", plan.seconds),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run wrk (scripts/bench installs it): {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut measure = Measure::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", value] => measure.rps = value.parse().unwrap_or(0.0),
            ["50%", value] => measure.p50_ms = parse_latency(value).unwrap_or(0.0),
            ["99%", value] => measure.p99_ms = parse_latency(value).unwrap_or(0.0),
            ["Non-2xx", "or", "3xx", "responses:", n] => {
                measure.errors += n.parse::<u64>().unwrap_or(0)
            }
            [n, "requests", "in", ..] => measure.requests = n.parse().unwrap_or(0),
            ["Socket", "errors:", ..] => {
                measure.errors += words
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    if measure.rps == 0.0 {
        return Err(format!("wrk measured nothing:\n{text}"));
    }
    Ok(measure)
}

/// A wrk script: `method` to `path` (with `{iid}` and `{check}` replaced by random values), optional body.
fn script(
    dir: &Path,
    name: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    merge_requests: u32,
) -> Result<PathBuf, String> {
    let lua_path = path
        .replace("{iid}", "\" .. math.random(1, MRS) .. \"")
        .replace("{check}", "\" .. math.random(1, 10) .. \"");
    let body_expr = body
        .map(|b| format!("'{}'", b.replace("{check}", "' .. math.random(1, 10) .. '")))
        .unwrap_or_else(|| "nil".into());
    let text = format!(
        "MRS = {merge_requests}\nmath.randomseed(os.time() + math.floor(os.clock() * 1000000))\n\
         wrk.headers[\"PRIVATE-TOKEN\"] = \"{ROOT_TOKEN}\"\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         request = function()\n  return wrk.format(\"{method}\", \"{lua_path}\", nil, {body_expr})\nend\n"
    );
    let file = dir.join(format!("{name}.lua"));
    std::fs::write(&file, text).map_err(|e| e.to_string())?;
    Ok(file)
}

fn bin(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let path = exe.parent().ok_or("no directory")?.join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: build it with --release",
            path.display()
        ))
    }
}

struct Row {
    what: String,
    measure: Measure,
    rss_mib: f64,
}

async fn seed(url: &str, merge_requests: u32, responses: u32) -> Result<Duration, String> {
    let started = Instant::now();
    crate::seed::seed(url, merge_requests, responses).await?;
    Ok(started.elapsed())
}

/// Copies a seeded database (and its write-ahead log, if one is left) to `to`, replacing what is there.
fn fresh_copy(from: &Path, to: &Path) -> Result<(), String> {
    for suffix in ["", "-wal", "-shm"] {
        let target = PathBuf::from(format!("{}{suffix}", to.display()));
        let _ = std::fs::remove_file(&target);
        let source = PathBuf::from(format!("{}{suffix}", from.display()));
        if suffix != "-shm" && source.exists() {
            std::fs::copy(&source, &target)
                .map_err(|e| format!("cannot copy {}: {e}", source.display()))?;
        }
    }
    Ok(())
}

/// The round whose requests/s is the median of a row's rounds (the lower middle one for an even count), with
/// the highest peak RSS of any round and the errors of all rounds.
fn median(what: &str, mut rounds: Vec<Row>) -> Row {
    rounds.sort_by(|a, b| a.measure.rps.total_cmp(&b.measure.rps));
    let peak = rounds.iter().map(|r| r.rss_mib).fold(0.0, f64::max);
    let errors = rounds.iter().map(|r| r.measure.errors).sum();
    let middle = (rounds.len().max(1) - 1) / 2;
    let mut measure = rounds
        .into_iter()
        .nth(middle)
        .map(|r| r.measure)
        .unwrap_or_default();
    measure.errors = errors;
    Row {
        what: what.to_owned(),
        measure,
        rss_mib: peak,
    }
}

/// How long the service took to be ready on a database.
type Startup = (&'static str, Duration);

/// `status-checks serve` on `db`, on a free port, JSON logs at `warn` (but the listening line), with `extra`
/// flags.
pub(crate) fn serve_command(db: &Path, extra: &[&str]) -> Result<Command, String> {
    serve_url_command(&format!("sqlite://{}", db.display()), extra)
}

/// `status-checks serve` on the database at `url`, as [`serve_command`].
fn serve_url_command(url: &str, extra: &[&str]) -> Result<Command, String> {
    let mut command = Command::new(bin("status-checks")?);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(extra)
        .arg("--database-url")
        .arg(url)
        .env("RUST_LOG", "warn,status_checks::serve=info");
    Ok(command)
}

/// Databases on the PostgreSQL server of the PostgreSQL rows: each round's copies are made from the seeded
/// one as a template (a file copy on the server), and dropped after.
struct PgServer {
    url: String,
}

impl PgServer {
    fn database_url(&self, name: &str) -> Result<String, String> {
        let mut url = url::Url::parse(&self.url).map_err(|e| e.to_string())?;
        url.set_path(name);
        Ok(url.to_string())
    }

    async fn execute(&self, sql: &str) -> Result<(), String> {
        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
        let mut admin = diesel_async::AsyncPgConnection::establish(&self.url)
            .await
            .map_err(|e| status_checks_postgres::redact_password(&self.url, &e.to_string()))?;
        admin.batch_execute(sql).await.map_err(|e| e.to_string())
    }

    /// A new database `name`, a copy of `template` if given; answers its URL.
    async fn create(&self, name: &str, template: Option<&str>) -> Result<String, String> {
        self.drop(name).await?;
        let from = template.map_or(String::new(), |t| format!(" TEMPLATE \"{t}\""));
        self.execute(&format!("CREATE DATABASE \"{name}\"{from}"))
            .await?;
        self.database_url(name)
    }

    async fn drop(&self, name: &str) -> Result<(), String> {
        self.execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
    }
}

/// One PostgreSQL round on copies of the seeded database: the ceilings (b′) and (c′), then E5 and E6 on one
/// instance, then on two instances of one database loaded at once (half the connections each).
async fn postgres_round(
    plan: &Plan,
    dir: &Path,
    server: &PgServer,
    seeded: &str,
) -> Result<Vec<Row>, String> {
    let me = bin("status-checks-bench")?;
    let mut rows = Vec::new();
    let copy = format!("{seeded}_round");
    for (mode, method, path, label) in [
        (
            "pg-select",
            "GET",
            "/ceiling?iid={iid}",
            "(b′) one indexed SELECT, PostgreSQL",
        ),
        (
            "pg-insert",
            "POST",
            "/ceiling?iid={iid}&check={check}",
            "(c′) one INSERT transaction, PostgreSQL",
        ),
    ] {
        let url = server.create(&copy, Some(seeded)).await?;
        let mut command = Command::new(&me);
        command
            .args(["ceiling", "--mode", mode, "--database-url"])
            .arg(&url);
        let (ceiling, _) = Server::start(command)?;
        let file = script(dir, mode, method, path, None, 1000)?;
        eprintln!("measuring ceiling {label}…");
        let measure = wrk(plan, &format!("http://{}", ceiling.address), &file)?;
        rows.push(Row {
            what: label.to_owned(),
            measure,
            rss_mib: ceiling.peak_rss_mib(),
        });
        ceiling.stop();
    }
    let endpoints = &status_endpoints()[..2];
    for instances in [1, 2] {
        let url = server.create(&copy, Some(seeded)).await?;
        let mut servers = Vec::new();
        for _ in 0..instances {
            let command = serve_url_command(&url, &["--max-concurrent-requests", "4096"])?;
            servers.push(Server::start(command)?.0);
        }
        for (name, method, path, body) in endpoints {
            let file = script(
                dir,
                &format!("pg-{}", name.split_whitespace().next().unwrap_or("x")),
                method,
                path,
                body.as_deref(),
                1000,
            )?;
            eprintln!("measuring {name} on PostgreSQL, {instances} instance(s)…");
            let share = Plan {
                connections: (plan.connections / instances).max(1),
                out: String::new(),
                postgres_url: None,
                ..*plan
            };
            let measures: Vec<Result<Measure, String>> = std::thread::scope(|scope| {
                let handles: Vec<_> = servers
                    .iter()
                    .map(|s| {
                        let (share, file) = (&share, &file);
                        let base = format!("http://{}", s.address);
                        scope.spawn(move || wrk(share, &base, file))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err("wrk thread failed".into())))
                    .collect()
            });
            let mut total = Measure::default();
            for measure in measures {
                let m = measure?;
                total.rps += m.rps;
                total.p50_ms = total.p50_ms.max(m.p50_ms);
                total.p99_ms = total.p99_ms.max(m.p99_ms);
                total.errors += m.errors;
                total.requests += m.requests;
            }
            let what = if instances == 1 {
                format!("{name} (PostgreSQL)")
            } else {
                format!("{name} (PostgreSQL, 2 instances)")
            };
            rows.push(Row {
                what,
                measure: total,
                rss_mib: servers.iter().map(Server::peak_rss_mib).fold(0.0, f64::max),
            });
        }
        for s in servers {
            s.stop();
        }
    }
    server.drop(&copy).await?;
    Ok(rows)
}

/// The service with its delivery worker, on `db`, ready for the fan-out (local check URLs allowed).
fn fan_out_service(db: &Path) -> Result<Server, String> {
    let command = serve_command(db, &["--allow-local-requests", "--root-token", ROOT_TOKEN])?;
    Server::start(command).map(|(server, _)| server)
}

/// One fan-out round: the drain of a full outbox, then the same deliveries caused through the API.
async fn fan_out(
    dir: &Path,
    n: u32,
    plan: &crate::fanout::Plan,
    sink: &std::sync::Arc<crate::fanout::SinkHandle>,
    sink_address: &str,
) -> Result<crate::fanout::Measured, String> {
    let drain_db = dir.join(format!("drain-{n}.db"));
    eprintln!(
        "measuring the drain of {} queued deliveries…",
        plan.merge_requests * plan.checks
    );
    crate::fanout::prefill(
        &format!("sqlite://{}", drain_db.display()),
        plan,
        sink_address,
    )
    .await?;
    let (drained, drain_duplicates, drain, server) =
        crate::fanout::drain(plan, sink, || fan_out_service(&drain_db)).await?;
    server.stop();

    eprintln!(
        "measuring the fan-out of {} merge requests × {} checks through the API…",
        plan.merge_requests, plan.checks
    );
    let server = fan_out_service(&dir.join(format!("fanout-{n}.db")))?;
    let measured = crate::fanout::measure(
        plan,
        &format!("http://{}", server.address),
        sink_address,
        sink,
    )
    .await;
    server.stop();
    let mut measured = measured?;
    measured.drained = drained;
    measured.drain = drain;
    measured.duplicates += drain_duplicates;
    Ok(measured)
}

/// The service's rows: name, method, path (with `{iid}` and `{check}` for wrk's random picks) and body. The
/// first two, E5 and E6, are also measured on PostgreSQL.
fn status_endpoints() -> [(&'static str, &'static str, &'static str, Option<String>); 4] {
    [
        (
            "E5 GET status_checks",
            "GET",
            "/api/v4/projects/1/merge_requests/{iid}/status_checks",
            None,
        ),
        (
            "E6 POST status_check_responses",
            "POST",
            "/api/v4/projects/1/merge_requests/{iid}/status_check_responses",
            Some(format!(
                "{{\"external_status_check_id\": {{check}}, \"sha\": \"{HEAD}\", \"status\": \"passed\"}}"
            )),
        ),
        (
            "E1 GET external_status_checks",
            "GET",
            "/api/v4/projects/1/external_status_checks",
            None,
        ),
        ("GET /user", "GET", "/api/v4/user", None),
    ]
}

/// One round: the three ceilings, then the service on each database, every row once.
fn round(
    plan: &Plan,
    dir: &Path,
    ceiling_db: &Path,
    small_db: &Path,
    large_db: &Path,
) -> Result<(Vec<Row>, Vec<Startup>), String> {
    let me = bin("status-checks-bench")?;
    let mut rows: Vec<Row> = Vec::new();
    for (mode, method, path, label) in [
        ("json", "GET", "/ceiling", "(a) bare JSON handler"),
        (
            "select",
            "GET",
            "/ceiling?iid={iid}",
            "(b) one indexed SELECT",
        ),
        (
            "insert",
            "POST",
            "/ceiling?iid={iid}&check={check}",
            "(c) one INSERT transaction",
        ),
    ] {
        let mut command = Command::new(&me);
        command
            .args(["ceiling", "--mode", mode, "--database-url"])
            .arg(format!("sqlite://{}", ceiling_db.display()));
        let (server, _) = Server::start(command)?;
        let file = script(dir, mode, method, path, None, 1000)?;
        eprintln!("measuring ceiling {label}…");
        let measure = wrk(plan, &format!("http://{}", server.address), &file)?;
        rows.push(Row {
            what: label.to_owned(),
            measure,
            rss_mib: server.peak_rss_mib(),
        });
        server.stop();
    }
    let mut startups = Vec::new();
    for (variant, db, mrs) in [
        ("small", small_db, 1000),
        ("large", large_db, plan.large_merge_requests),
    ] {
        let command = serve_command(db, &["--max-concurrent-requests", "4096"])?;
        let (server, startup) = Server::start(command)?;
        startups.push((variant, startup));
        let base = format!("http://{}", server.address);
        for (name, method, path, body) in status_endpoints() {
            let file = script(
                dir,
                &format!(
                    "{variant}-{}",
                    name.split_whitespace().next().unwrap_or("x")
                ),
                method,
                path,
                body.as_deref(),
                mrs,
            )?;
            eprintln!("measuring {name} on the {variant} database…");
            let measure = wrk(plan, &base, &file)?;
            rows.push(Row {
                what: format!("{name} ({variant})"),
                measure,
                rss_mib: server.peak_rss_mib(),
            });
        }
        server.stop();
    }
    Ok((rows, startups))
}

/// The whole run.
pub async fn run(plan: Plan) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("status-checks-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (small_seeded, large_seeded) = (dir.join("small-seeded.db"), dir.join("large-seeded.db"));
    let (small_db, large_db) = (dir.join("small.db"), dir.join("large.db"));
    // The ceilings get their own copy: the INSERT ceiling adds responses that E5 would then read.
    let ceiling_db = dir.join("ceiling.db");
    eprintln!("seeding the small database (1 000 merge requests, 10 000 responses)…");
    let small_seed = seed(
        &format!("sqlite://{}", small_seeded.display()),
        1000,
        10_000,
    )
    .await?;
    eprintln!(
        "seeding the large database ({} merge requests, {} responses)…",
        plan.large_merge_requests, plan.large_responses
    );
    let large_seed = seed(
        &format!("sqlite://{}", large_seeded.display()),
        plan.large_merge_requests,
        plan.large_responses,
    )
    .await?;

    // PostgreSQL: one seeded database (as the small one), copied for each round.
    let postgres = match &plan.postgres_url {
        Some(url) => {
            let server = PgServer { url: url.clone() };
            let seeded = format!("status_checks_bench_{}", std::process::id());
            eprintln!("seeding the PostgreSQL database (1 000 merge requests, 10 000 responses)…");
            let seeded_url = server.create(&seeded, None).await?;
            seed(&seeded_url, 1000, 10_000).await?;
            Some((server, seeded))
        }
        None => None,
    };

    // Rows by name, one measurement per round. Every round starts from the seeded databases: E6 and the
    // INSERT ceiling add responses that later reads would scan.
    let mut measured: Vec<(String, Vec<Row>)> = Vec::new();
    let mut startups: Vec<Startup> = Vec::new();
    let (sink, sink_address) = crate::fanout::start_sink().await?;
    let fan_out_plan = crate::fanout::Plan {
        merge_requests: 200,
        checks: 10,
        concurrency: 16,
    };
    let mut fan_outs: Vec<crate::fanout::Measured> = Vec::new();
    for n in 1..=plan.rounds {
        eprintln!("round {n} of {}", plan.rounds);
        fresh_copy(&small_seeded, &ceiling_db)?;
        fresh_copy(&small_seeded, &small_db)?;
        fresh_copy(&large_seeded, &large_db)?;
        let (mut rows, round_startups) = round(&plan, &dir, &ceiling_db, &small_db, &large_db)?;
        if let Some((server, seeded)) = &postgres {
            rows.extend(postgres_round(&plan, &dir, server, seeded).await?);
        }
        fan_outs.push(fan_out(&dir, n, &fan_out_plan, &sink, &sink_address).await?);
        for row in rows {
            match measured.iter_mut().find(|(what, _)| *what == row.what) {
                Some((_, rounds)) => rounds.push(row),
                None => measured.push((row.what.clone(), vec![row])),
            }
        }
        // The slowest start-up of any round, per database.
        for (variant, startup) in round_startups {
            match startups.iter_mut().find(|(v, _)| *v == variant) {
                Some((_, slowest)) => *slowest = (*slowest).max(startup),
                None => startups.push((variant, startup)),
            }
        }
    }
    let (ceilings, rows): (Vec<Row>, Vec<Row>) = measured
        .into_iter()
        .map(|(what, rounds)| median(&what, rounds))
        .partition(|row| row.what.starts_with('('));

    eprintln!(
        "soaking: 20 pushes a second × 10 checks for {} s…",
        plan.soak_seconds
    );
    let soak_server = fan_out_service(&dir.join("soak.db"))?;
    let soaked = crate::fanout::soak(
        &format!("http://{}", soak_server.address),
        &sink_address,
        &sink,
        20,
        10,
        plan.soak_seconds,
    )
    .await;
    soak_server.stop();
    let soaked = soaked?;
    // The median round by the ratio to its own ceiling D.
    fan_outs
        .sort_by(|a, b| (a.rate() / a.ceiling_rate()).total_cmp(&(b.rate() / b.ceiling_rate())));
    let fan_out = fan_outs
        .get((fan_outs.len().max(1) - 1) / 2)
        .cloned()
        .unwrap_or_default();
    let mut table = render(&plan, &rows, &ceilings, &startups, small_seed, large_seed);
    render_fan_out(&mut table, &fan_out_plan, &fan_out);
    render_soak(&mut table, &soaked);
    println!("{table}");
    write_results(&plan.out, &table)?;
    let _ = std::fs::remove_dir_all(&dir);
    if let Some((server, seeded)) = &postgres {
        server.drop(seeded).await?;
    }
    Ok(())
}

fn machine() -> String {
    format!(
        "{}; load generator `{}` on the same machine",
        host(),
        command_output("wrk", &["--version"])
            .split(" [")
            .next()
            .unwrap_or("wrk")
    )
}

/// The first line a command prints, trimmed (empty if it cannot run).
fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// The machine and toolchain: cores, CPU, memory, kernel, rustc.
pub(crate) fn host() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|m| m.trim().to_owned()))
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {memory} memory; {}; {}",
        command_output("uname", &["-sr"]),
        command_output("rustc", &["--version"])
    )
}

fn render(
    plan: &Plan,
    rows: &[Row],
    ceilings: &[Row],
    startups: &[(&str, Duration)],
    small_seed: Duration,
    large_seed: Duration,
) -> String {
    let ceiling = |i: usize| ceilings.get(i).map_or(1.0, |c| c.measure.rps.max(1.0));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Run on {} — {}.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine()
    );
    let _ = writeln!(
        out,
        "wrk, {} connections, 2 threads, {} s per measurement; every row measured in each of {} rounds (ceilings \
         first, then the service), the median round shown, peak RSS the highest and errors the sum of all rounds; server and \
         load generator share the machine.\n",
        plan.connections, plan.seconds, plan.rounds
    );
    let _ = writeln!(
        out,
        "| what | requests/s | p50 ms | p99 ms | errors | peak RSS MiB | ratio to ceiling |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|");
    for row in ceilings {
        let m = &row.measure;
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {} | {:.1} | — |",
            row.what, m.rps, m.p50_ms, m.p99_ms, m.errors, row.rss_mib
        );
    }
    for row in rows {
        let m = &row.measure;
        let (index, label) = if row.what.contains("PostgreSQL") {
            if row.what.starts_with("E6") {
                (4, "c′")
            } else {
                (3, "b′")
            }
        } else if row.what.starts_with("E6") {
            (2, "c")
        } else if row.what.starts_with("E5")
            || row.what.starts_with("E1")
            || row.what.starts_with("GET /user")
        {
            (1, "b")
        } else {
            (0, "a")
        };
        let ratio = m.rps / ceiling(index);
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {} | {:.1} | {:.0} % of ({label}), {:.0} % of (a) |",
            row.what,
            m.rps,
            m.p50_ms,
            m.p99_ms,
            m.errors,
            row.rss_mib,
            ratio * 100.0,
            m.rps / ceiling(0) * 100.0
        );
    }
    let find = |prefix: &str, variant: &str| {
        rows.iter()
            .find(|r| r.what.starts_with(prefix) && r.what.ends_with(&format!("({variant})")))
            .map_or(0.0, |r| r.measure.rps)
    };
    let change = |prefix: &str| {
        let (small, large) = (find(prefix, "small"), find(prefix, "large"));
        if small > 0.0 {
            (large - small) / small * 100.0
        } else {
            0.0
        }
    };
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Large database versus small: E5 {:+.1} %, E6 {:+.1} % requests/s.",
        change("E5"),
        change("E6")
    );
    for (variant, startup) in startups {
        let _ = writeln!(
            out,
            "Start-up to ready on the {variant} database: {} ms (slowest round).",
            startup.as_millis()
        );
    }
    let _ = writeln!(
        out,
        "Seeding took {:.1} s (small) and {:.1} s (large).",
        small_seed.as_secs_f64(),
        large_seed.as_secs_f64()
    );
    out
}

fn render_fan_out(out: &mut String, plan: &crate::fanout::Plan, m: &crate::fanout::Measured) {
    let _ = writeln!(
        out,
        "\nFan-out: {} merge requests on a project with {} checks, each with a shared secret (so every delivery \
         is signed), to a local sink that answers 200 at once; the median round by the drain's ratio. Ceiling (D): a \
         bare reqwest client (the product's TLS stack and features) posting the same requests, headers and bodies \
         to the same sink at the same concurrency ({}) over keep-alive connections. The drain starts the service on \
         an outbox already holding every delivery and times the sink from its first delivery to its last; end to end, the merge requests are opened through the API (8 \
         clients at once) while the worker sends.\n",
        plan.merge_requests, plan.checks, plan.concurrency
    );
    let _ = writeln!(
        out,
        "| what | deliveries | seconds | deliveries/s | ratio to ceiling |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|");
    let _ = writeln!(
        out,
        "| (D) bare client, same requests | {} | {:.3} | {:.0} | — |",
        m.expected,
        m.ceiling.as_secs_f64(),
        m.ceiling_rate()
    );
    for (what, deliveries, took) in [
        (
            "drain of a full outbox: first delivery received to last",
            m.drained,
            m.drain,
        ),
        (
            "end to end: first merge request opened to last delivery received",
            m.delivered,
            m.end_to_end,
        ),
    ] {
        let rate = deliveries as f64 / took.as_secs_f64().max(1e-9);
        let _ = writeln!(
            out,
            "| {what} | {deliveries} | {:.3} | {rate:.0} | {:.0} % of (D) |",
            took.as_secs_f64(),
            rate / m.ceiling_rate().max(1e-9) * 100.0
        );
    }
    let _ = writeln!(
        out,
        "\nDeliveries received twice, over both: {}.",
        m.duplicates
    );
}

fn render_soak(out: &mut String, s: &crate::fanout::Soaked) {
    let waiting = |values: &[u64]| {
        values
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let half = s.waiting.len() / 2;
    let max = |values: &[u64]| values.iter().copied().max().unwrap_or(0);
    let _ = writeln!(
        out,
        "\nSoak: {} pushes a second (a new HEAD on one of {} open merge requests, round robin) on a project with {} \
         signed checks, for {} s, to the same sink: {} pushes, {} deliveries caused, {} received by the end; push \
         latency p50 {:.2} ms, p99 {:.2} ms. Deliveries caused but not yet received, once a second: {}. Highest in \
         the first half {}, in the second half {}.",
        s.rate,
        s.rate,
        s.checks,
        s.seconds,
        s.pushes,
        s.caused,
        s.received,
        s.p50_ms,
        s.p99_ms,
        waiting(&s.waiting),
        max(s.waiting.get(..half).unwrap_or_default()),
        max(s.waiting.get(half..).unwrap_or_default())
    );
}

const START: &str = "<!-- results:start -->";
const END: &str = "<!-- results:end -->";

fn write_results(path: &str, table: &str) -> Result<(), String> {
    let current = std::fs::read_to_string(path)
        .unwrap_or_else(|_| format!("# Benchmarks\n\n{START}\n{END}\n"));
    let (before, rest) = current.split_once(START).ok_or("no results:start marker")?;
    let (_, after) = rest.split_once(END).ok_or("no results:end marker")?;
    let updated = format!("{before}{START}\n{table}{END}{after}");
    std::fs::write(path, updated).map_err(|e| e.to_string())
}
