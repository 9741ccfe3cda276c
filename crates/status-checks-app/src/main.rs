//! # status-checks
//!
//! The binary operators run: it parses one typed configuration ([`config`]), wires the SQLite store, the core's
//! use cases and the HTTP API together ([`serve`]), and offers offline administration ([`admin`]).
//!
//! This crate is the only one that knows every other: it constructs the concrete adapters and hands them to
//! the core as ports. It holds no rule of the domain, no SQL and no request parsing.

mod admin;
mod config;
mod error;
mod json_log;
mod observability;
mod platform;
mod serve;

use clap::Parser;
use clap::error::ErrorKind;
use config::{Cli, Command};
use std::process::ExitCode;

/// Parses the command line; a usage error prints one line naming the flag and exits 2.
fn parse() -> Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            let _ = e.print();
            Err(
                if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                },
            )
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let line = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("error: invalid arguments");
            eprintln!("{line}");
            Err(ExitCode::from(2))
        }
    }
}

/// mimalloc rather than the system allocator: requests allocate many small, short-lived objects (see
/// docs/benchmarks.md for the measurement). The benchmark's ceilings use the same allocator as the service.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    if let Err(e) = status_checks_storage::database_path(&cli.database_url) {
        eprintln!("error: --database-url {e}");
        return ExitCode::from(2);
    }
    let log_format = match &cli.command {
        Command::Serve(args) => {
            if let Some(Err(reason)) = args.root_token.as_deref().map(config::check_root_token) {
                eprintln!("error: --root-token {reason}");
                return ExitCode::from(2);
            }
            args.log_format
        }
        _ => None,
    };
    observability::init_logging(log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::serve(&cli.database_url, *args).await,
            Command::Migrate => {
                let url = cli.database_url.clone();
                let applied = tokio::task::spawn_blocking(move || {
                    status_checks_storage::run_migrations(&url)
                })
                .await??;
                println!("applied {} migration(s)", applied.len());
                Ok(())
            }
            Command::Users(command) => admin::users(&cli.database_url, command).await,
            Command::Tokens(command) => admin::tokens(&cli.database_url, command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
