//! The command line and its one typed configuration. Every flag has an environment variable; flags win.
//! A bad value stops the program with one line naming the flag (exit code 2), never a panic.

use clap::{Args, Parser, Subcommand, ValueEnum};
use status_checks_core::ssrf::OutboundAllowlist;
use std::net::SocketAddr;
use std::time::Duration;

/// GitLab-compatible External Status Checks service.
#[derive(Debug, Parser)]
#[command(name = "status-checks", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Where data lives: `sqlite://relative/path.db`, `sqlite:///abs/path.db` or a file path (created if
    /// missing), or `postgres://user:password@host:port/database` (also `postgresql://`) for several
    /// instances on one PostgreSQL database.
    #[arg(
        long,
        env = "STATUS_CHECKS_DATABASE_URL",
        default_value = "sqlite://status-checks.db",
        global = true
    )]
    pub database_url: String,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the API and deliver notifications until SIGINT/SIGTERM.
    Serve(Box<ServeArgs>),
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage users offline, on the database.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage personal access tokens offline, on the database.
    #[command(subcommand)]
    Tokens(TokensCommand),
}

/// `users …`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user.
    Create {
        /// Login name (letters, digits, `_`, `-`, `.`).
        #[arg(long)]
        username: String,
        /// Display name (defaults to the username).
        #[arg(long)]
        name: Option<String>,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
    },
}

/// A token scope on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ScopeArg {
    /// Everything the user may do.
    Api,
    /// Reads only.
    ReadApi,
}

/// `tokens …`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a personal access token and print it, once, on stdout.
    Create {
        /// Whose token.
        #[arg(long)]
        username: String,
        /// A label for the token.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Scope (repeat for several).
        #[arg(long = "scope", value_enum, default_value = "api")]
        scopes: Vec<ScopeArg>,
        /// Expiry date (YYYY-MM-DD); the token stops working at 00:00 UTC that day.
        #[arg(long, value_parser = parse_date)]
        expires_at: Option<chrono::NaiveDate>,
    },
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// SQLite `synchronous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SynchronousArg {
    /// Survives a process crash (default, with WAL).
    Normal,
    /// Survives a power loss too; slower.
    Full,
}

/// Settings of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to bind; port 0 picks a free port.
    #[arg(long, env = "STATUS_CHECKS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// If set and no user `root` exists, create administrator `root` with this personal access token (scope
    /// `api`); at least 20 characters.
    #[arg(long, env = "STATUS_CHECKS_ROOT_TOKEN", hide_env_values = true)]
    pub root_token: Option<String>,

    /// Base URL for `web_url` fields [default: http://<listen>].
    #[arg(long, env = "STATUS_CHECKS_EXTERNAL_URL", value_parser = parse_external_url)]
    pub external_url: Option<String>,

    /// Allow check and forge URLs on loopback and private networks.
    #[arg(long, env = "STATUS_CHECKS_ALLOW_LOCAL_REQUESTS")]
    pub allow_local_requests: bool,

    /// Local targets checks and forges may reach although local requests are not allowed: host names, IP
    /// addresses and CIDR ranges, comma-separated (`git.internal,10.0.0.0/8`).
    #[arg(long, env = "STATUS_CHECKS_OUTBOUND_ALLOWLIST", default_value = "", value_parser = parse_allowlist)]
    pub outbound_allowlist: OutboundAllowlist,

    /// Per-request timeout of calls to forges (status posts, merge request lists).
    #[arg(long, env = "STATUS_CHECKS_FORGE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub forge_timeout: Duration,

    /// Attempts at a status post before it is dead.
    #[arg(long, env = "STATUS_CHECKS_FORGE_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub forge_attempts: u32,

    /// A check pending longer than this on an MR's HEAD becomes `failed` (`90s`, `2m`, `1h`).
    #[arg(long, env = "STATUS_CHECKS_PENDING_TIMEOUT", default_value = "2m", value_parser = parse_duration)]
    pub pending_timeout: Duration,

    /// Per-request timeout of notifications.
    #[arg(long, env = "STATUS_CHECKS_DELIVERY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub delivery_timeout: Duration,

    /// Attempts of a notification before it is dead (at least 1).
    #[arg(long, env = "STATUS_CHECKS_DELIVERY_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub delivery_attempts: u32,

    /// Notifications in flight at once, in all.
    #[arg(long, env = "STATUS_CHECKS_DELIVERY_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub delivery_concurrency: u32,

    /// Notifications in flight at once to one receiver (scheme, host and port of a check's URL).
    #[arg(long, env = "STATUS_CHECKS_DELIVERY_CONCURRENCY_PER_RECEIVER", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub delivery_concurrency_per_receiver: u32,

    /// How long delivered and dead notifications and status posts, webhook replay keys and posted states
    /// are kept (`12h`, `7d`); `0` keeps them for ever.
    #[arg(long, env = "STATUS_CHECKS_DELIVERY_RETENTION", default_value = "7d", value_parser = parse_retention)]
    pub delivery_retention: Retention,

    /// Most notifications claimed from the outbox at once, and most outcomes recorded in one transaction.
    #[arg(long, env = "STATUS_CHECKS_DELIVERY_BATCH_SIZE", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub delivery_batch_size: u32,

    /// Request bodies larger than this get 413 (`4096`, `4KiB`, `1MiB`).
    #[arg(long, env = "STATUS_CHECKS_MAX_BODY_SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub max_body_size: usize,

    /// Requests running longer than this are answered 503.
    #[arg(long, env = "STATUS_CHECKS_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Requests served at once; more are answered 503 at once instead of queueing.
    #[arg(long, env = "STATUS_CHECKS_MAX_CONCURRENT_REQUESTS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,

    /// After SIGINT/SIGTERM, how long in-flight requests may take to finish.
    #[arg(long, env = "STATUS_CHECKS_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// SQLite only: read connections to the database (writes use one connection of their own).
    #[arg(long, env = "STATUS_CHECKS_DB_READ_CONNECTIONS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub db_read_connections: u32,

    /// PostgreSQL only: most connections this instance opens to the database (opened on demand, kept while
    /// idle). Every instance has its own pool: keep the sum under the server's `max_connections`.
    #[arg(long, env = "STATUS_CHECKS_DB_MAX_CONNECTIONS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,

    /// SQLite only: durability; `normal` survives a process crash, `full` a power loss too.
    #[arg(
        long,
        env = "STATUS_CHECKS_SQLITE_SYNCHRONOUS",
        value_enum,
        default_value = "normal"
    )]
    pub sqlite_synchronous: SynchronousArg,

    /// Log lines: `pretty` or `json` [default: pretty on a terminal, else json]. The level comes from RUST_LOG
    /// (default `info`).
    #[arg(long, env = "STATUS_CHECKS_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Flags of `serve` that only one backend reads: (argument id, flag, whether it is PostgreSQL's).
const BACKEND_FLAGS: [(&str, &str, bool); 3] = [
    ("db_read_connections", "--db-read-connections", false),
    ("sqlite_synchronous", "--sqlite-synchronous", false),
    ("db_max_connections", "--db-max-connections", true),
];

/// Refuses a flag of one backend given (on the command line or by its environment variable; defaults do
/// not count) with a database URL of the other: the error names the flag.
pub fn check_backend_flags(matches: &clap::ArgMatches, postgres: bool) -> Result<(), String> {
    let Some(serve) = matches.subcommand_matches("serve") else {
        return Ok(());
    };
    for (id, flag, for_postgres) in BACKEND_FLAGS {
        let given = match serve.value_source(id) {
            Some(clap::parser::ValueSource::CommandLine) => flag.to_owned(),
            Some(clap::parser::ValueSource::EnvVariable) => {
                let env = format!(
                    "STATUS_CHECKS_{}",
                    flag.trim_start_matches('-')
                        .replace('-', "_")
                        .to_uppercase()
                );
                format!("{flag} (set by {env})")
            }
            _ => continue,
        };
        if for_postgres != postgres {
            return Err(if for_postgres {
                format!(
                    "{given} applies to PostgreSQL only, and --database-url is not a postgres:// URL"
                )
            } else {
                format!("{given} applies to SQLite only, and --database-url is a PostgreSQL URL")
            });
        }
    }
    Ok(())
}

/// The leading whole number of `raw` and the unit after it (trimmed), e.g. `7d` → `(7, "d")`; `None` without a
/// number or past `u64`.
fn number_and_unit(raw: &str) -> Option<(u64, &str)> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    Some((digits.parse().ok()?, unit.trim()))
}

/// How long finished notifications are kept: `None` keeps them for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Option<Duration>);

/// Parses a retention: `0` (keep for ever), or a number with `s`, `m`, `h` or `d`, at most ten years.
pub fn parse_retention(raw: &str) -> Result<Retention, String> {
    let invalid = || format!("{:?} is not a retention such as 12h, 7d or 0", raw.trim());
    let (n, unit) = number_and_unit(raw).ok_or_else(invalid)?;
    let seconds = match unit {
        "" if n == 0 => return Ok(Retention(None)),
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(invalid()),
    };
    if seconds == 0 {
        return Ok(Retention(None));
    }
    if seconds > 3650 * 86_400 {
        return Err("must be at most ten years (3650d)".into());
    }
    Ok(Retention(Some(Duration::from_secs(seconds))))
}

/// `90s`, `2m`, `1h`, `500ms`, or plain seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let invalid = || format!("{:?} is not a duration such as 90s, 2m or 1h", raw.trim());
    let (n, unit) = number_and_unit(raw).ok_or_else(invalid)?;
    let duration = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(invalid()),
    };
    // A week is far beyond any sensible timeout, and keeps every later arithmetic on it in range.
    if duration > Duration::from_secs(7 * 24 * 3600) {
        return Err("must be at most a week (168h)".into());
    }
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// `4096`, `4KiB`, `1MiB`, `1KB`, `2MB`.
pub fn parse_size(raw: &str) -> Result<usize, String> {
    let invalid = || format!("{:?} is not a size such as 4096, 4KiB or 1MiB", raw.trim());
    let (n, unit) = number_and_unit(raw).ok_or_else(invalid)?;
    let n = usize::try_from(n).map_err(|_| invalid())?;
    let factor: usize = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1024,
        "mib" | "m" => 1024 * 1024,
        "gib" | "g" => 1024 * 1024 * 1024,
        "kb" => 1000,
        "mb" => 1000 * 1000,
        "gb" => 1000 * 1000 * 1000,
        _ => return Err(invalid()),
    };
    n.checked_mul(factor)
        .filter(|size| *size > 0)
        .ok_or_else(|| format!("{:?} is out of range", raw.trim()))
}

/// Checks `--root-token` after parsing, so that a refused token is never echoed in the error.
pub fn check_root_token(raw: &str) -> Result<(), String> {
    if raw.chars().count() < 20 {
        Err("must be at least 20 characters".into())
    } else if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("must not contain white space".into())
    } else {
        Ok(())
    }
}

fn parse_external_url(raw: &str) -> Result<String, String> {
    let lower = raw.to_ascii_lowercase();
    let host = lower.split_once("://").map_or("", |(_, rest)| rest);
    if (lower.starts_with("http://") || lower.starts_with("https://"))
        && !host.is_empty()
        && !host.starts_with('/')
    {
        Ok(raw.trim_end_matches('/').to_owned())
    } else {
        Err("must be an http:// or https:// URL".into())
    }
}

fn parse_date(raw: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| "must be a date such as 2030-12-31".into())
}

/// Reads `--outbound-allowlist`.
pub fn parse_allowlist(raw: &str) -> Result<OutboundAllowlist, String> {
    OutboundAllowlist::parse(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        for bad in [
            "",
            "m",
            "2x",
            "-1s",
            "0s",
            "1.5m",
            "169h",
            "5124095576030431h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retentions() {
        let days = |n: u64| Retention(Some(Duration::from_secs(n * 86_400)));
        assert_eq!(parse_retention("7d"), Ok(days(7)));
        assert_eq!(parse_retention("3650d"), Ok(days(3650)));
        assert_eq!(
            parse_retention("12h"),
            Ok(Retention(Some(Duration::from_secs(12 * 3600))))
        );
        assert_eq!(parse_retention("0"), Ok(Retention(None)));
        assert_eq!(parse_retention("0d"), Ok(Retention(None)));
        for bad in [
            "",
            "d",
            "7",
            "7w",
            "-1d",
            "1.5d",
            "3651d",
            "99999999999999999999d",
        ] {
            assert!(parse_retention(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn external_urls() {
        assert_eq!(
            parse_external_url("https://sc.example.com/"),
            Ok("https://sc.example.com".into())
        );
        for bad in ["https://", "http:///x", "ftp://h", "sc.example.com"] {
            assert!(parse_external_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("1MiB"), Ok(1024 * 1024));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        for bad in ["", "0", "1TiB", "abc", "99999999999999999999999"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
