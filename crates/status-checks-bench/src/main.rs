//! # status-checks-bench
//!
//! The benchmark harness (`scripts/bench` runs it): in one run it seeds a small and a large database, starts
//! the real `status-checks` binary on each and loads it with wrk, starts the physical ceilings (a bare JSON
//! handler, one indexed SELECT, one INSERT transaction — each the plainest correct code for its work, sharing
//! nothing with the service's connection code), and writes the table of requests/s, latency, peak RSS and ratios into
//! `docs/benchmarks.md`.
//!
//! It also measures the fan-out of notifications: how fast the delivery worker drains 2 000 signed deliveries
//! to a local sink, against ceiling D, a bare HTTP client sending the same requests (`fanout`).
//!
//! `status-checks-bench forge` measures the forge bridge: how fast the real binary answers GitLab
//! merge-request webhooks from 64 clients at once, and how fast it reports commit statuses to a fake GitLab,
//! each against a bare-HTTP ceiling (`forge`).
//!
//! It is a tool, not part of the service: it may use the storage adapter's raw connections, which the
//! service never does.

mod ceiling;
mod fanout;
mod forge;
mod run;
mod seed;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// The token of the seeded administrator.
pub const ROOT_TOKEN: &str = "bench-root-token-0123456789";
/// The HEAD sha of every seeded merge request.
pub const HEAD: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

#[derive(Parser)]
#[command(name = "status-checks-bench", about = "Benchmarks of status-checks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A ceiling to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// (a) a bare handler returning a JSON body the size of E5's.
    Json,
    /// (b) one indexed SELECT: an r2d2 pool of its own, `spawn_blocking`.
    Select,
    /// (c) one INSERT in its own `BEGIN IMMEDIATE` transaction: one connection behind a `std::sync::Mutex`
    /// taken inside `spawn_blocking`.
    Insert,
    /// (b′) one indexed SELECT on PostgreSQL: a deadpool pool of diesel-async connections of its own.
    PgSelect,
    /// (c′) one INSERT on PostgreSQL (its own transaction), on the same kind of pool.
    PgInsert,
}

#[derive(Subcommand)]
enum Command {
    /// Seed a database: 1 project, 10 checks (5 scoped by `release/*`), merge requests and responses.
    Seed {
        /// The database.
        #[arg(long)]
        database_url: String,
        /// Merge requests.
        #[arg(long, default_value_t = 1000)]
        merge_requests: u32,
        /// Responses spread over them.
        #[arg(long, default_value_t = 10_000)]
        responses: u32,
    },
    /// Serve one physical ceiling.
    Ceiling {
        /// Which.
        #[arg(long, value_enum)]
        mode: Mode,
        /// A seeded database.
        #[arg(long)]
        database_url: String,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// The whole benchmark: seed, load, ceilings, table.
    Run {
        /// Where to write the results (between the markers of the file).
        #[arg(long, default_value = "docs/benchmarks.md")]
        out: String,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        /// Connections.
        #[arg(long, default_value_t = 64)]
        connections: u32,
        /// Rounds: every row is measured once per round, rounds one after the other on fresh copies of the
        /// seeded databases, and the table shows each row's median round.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        rounds: u32,
        /// Merge requests of the large database.
        #[arg(long, default_value_t = 100_000)]
        large_merge_requests: u32,
        /// Responses of the large database.
        #[arg(long, default_value_t = 1_000_000)]
        large_responses: u32,
        /// Seconds of the soak: 20 pushes a second, each notifying 10 checks.
        #[arg(long, default_value_t = 30)]
        soak_seconds: u32,
        /// A PostgreSQL server URL whose user may create databases: the PostgreSQL rows ((b′), (c′), E5 and
        /// E6 on one and on two instances) are measured on databases made there. Without it they are left out.
        #[arg(long, env = "STATUS_CHECKS_BENCH_POSTGRES_URL")]
        postgres_url: Option<String>,
    },
    /// The forge bridge: GitLab webhooks answered, and commit statuses posted to a fake GitLab, against their
    /// ceilings (the release `status-checks` binary next to this one).
    Forge {
        /// Where to write the results (between the forge markers of the file); without it, only printed.
        #[arg(long)]
        out: Option<String>,
        /// Merge requests opened, one `open` webhook each.
        #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u32).range(1..))]
        merge_requests: u32,
        /// Checks of the linked project.
        #[arg(long, default_value_t = 3)]
        checks: u32,
        /// Webhook clients at once.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
        concurrency: u32,
        /// Status posts at once of the bare client (ceiling G): the reporter's batch.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
        post_concurrency: u32,
    },
}

/// mimalloc rather than the system allocator: requests allocate many small, short-lived objects (see
/// docs/benchmarks.md for the measurement). The benchmark's ceilings use the same allocator as the service.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Seed {
                database_url,
                merge_requests,
                responses,
            } => seed::seed(&database_url, merge_requests, responses)
                .await
                .map(|_| ()),
            Command::Ceiling {
                mode,
                database_url,
                listen,
            } => ceiling::serve(mode, &database_url, &listen).await,
            Command::Run {
                out,
                seconds,
                connections,
                rounds,
                large_merge_requests,
                large_responses,
                soak_seconds,
                postgres_url,
            } => {
                run::run(run::Plan {
                    out,
                    seconds,
                    connections,
                    rounds,
                    large_merge_requests,
                    large_responses,
                    soak_seconds,
                    postgres_url,
                })
                .await
            }
            Command::Forge {
                out,
                merge_requests,
                checks,
                concurrency,
                post_concurrency,
            } => {
                forge::run(forge::Plan {
                    merge_requests,
                    checks,
                    concurrency,
                    post_concurrency,
                    out,
                })
                .await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
