//! # status-checks
//!
//! The binary operators run: it parses one typed configuration ([`config`]), wires the store the database URL
//! selects ([`backend`]: SQLite, or PostgreSQL for several instances), the core's use cases and the HTTP API
//! together ([`serve`]), and offers offline administration ([`admin`]).
//!
//! This crate is the only one that knows every other: it constructs the concrete adapters and hands them to
//! the core as ports. It holds no rule of the domain, no SQL and no request parsing.

mod admin;
mod backend;
mod config;
mod error;
mod json_log;
mod observability;
mod platform;
mod serve;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};
use config::{Cli, Command};
use std::process::ExitCode;

/// Parses the command line; a usage error prints one line naming the flag and exits 2. A flag of one
/// backend given with a database URL of the other is such an error.
fn parse() -> Result<Cli, ExitCode> {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (cli, matches)));
    match parsed {
        Ok((cli, matches)) => {
            if let Err(reason) =
                config::check_backend_flags(&matches, backend::is_postgres(&cli.database_url))
            {
                eprintln!("error: {reason}");
                return Err(ExitCode::from(2));
            }
            Ok(cli)
        }
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
    if !backend::is_postgres(&cli.database_url)
        && let Err(e) = status_checks_storage::database_path(&cli.database_url)
    {
        let line = format!("error: --database-url {e}");
        eprintln!(
            "{}",
            status_checks_postgres::redact_password(&cli.database_url, &line)
        );
        return ExitCode::from(2);
    }
    let (log_format, log_to_stdout) = match &cli.command {
        Command::Serve(args) => {
            if let Some(Err(reason)) = args.root_token.as_deref().map(config::check_root_token) {
                eprintln!("error: --root-token {reason}");
                return ExitCode::from(2);
            }
            (args.log_format, true)
        }
        // What the other commands print on stdout is their answer (`tokens create`: the token alone).
        _ => (None, false),
    };
    observability::init_logging(log_format, log_to_stdout);
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
    let Cli {
        database_url,
        command,
    } = cli;
    let result = runtime.block_on(async {
        match command {
            Command::Serve(args) => serve::serve(&database_url, *args).await,
            Command::Migrate => {
                let applied = backend::Backend::migrate(&database_url).await?;
                println!("applied {applied} migration(s)");
                Ok(())
            }
            Command::Users(command) => admin::users(&database_url, command).await,
            Command::Tokens(command) => admin::tokens(&database_url, command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The adapters name no password; this is the belt to their braces.
            let line = format!("error: {error}");
            eprintln!(
                "{}",
                status_checks_postgres::redact_password(&database_url, &line)
            );
            ExitCode::FAILURE
        }
    }
}
