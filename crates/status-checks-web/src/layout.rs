//! The page shell every page shares: the header with who is signed in, the stylesheet (inline: one request
//! per page), the status badges (colour and text), times, and the headers of every page.

use crate::session::{CSRF_FIELD, Visitor};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use status_checks_core::status_checks::CheckStatus;
use status_checks_core::{MergeRequestState, Timestamp};

/// What the shell shows around a page's content.
pub(crate) struct Chrome<'a> {
    title: &'a str,
    username: Option<&'a str>,
    csrf: &'a str,
    refresh: bool,
}

impl<'a> Chrome<'a> {
    /// The shell of a page with this title, for this visitor.
    pub(crate) fn of(title: &'a str, visitor: &'a Visitor) -> Self {
        Chrome {
            title,
            username: visitor.actor.as_ref().map(|a| a.username.as_str()),
            csrf: visitor.csrf_token(),
            refresh: false,
        }
    }

    /// The shell of a page that knows nothing of its visitor (error pages).
    pub(crate) fn plain(title: &'a str) -> Self {
        Chrome {
            title,
            username: None,
            csrf: "",
            refresh: false,
        }
    }

    /// Loads the script that refreshes the parts marked `data-refresh` in place.
    pub(crate) fn refreshing(mut self) -> Self {
        self.refresh = true;
        self
    }
}

/// Styles: system fonts, a readable measure, colours with at least 4.5:1 contrast against their background.
const STYLE: &str = r#"
:root{color-scheme:light;--fg:#1f1f1f;--muted:#555;--line:#d0d0d0;--link:#0b57d0;--bg:#fff;--soft:#f4f4f4}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
header.top{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding:.6rem 1rem;border-bottom:1px solid var(--line);background:var(--soft)}
header.top .home{font-weight:600;text-decoration:none;color:var(--fg)}
header.top form{display:inline}
main{max-width:72rem;margin:0 auto;padding:1rem}
nav.crumbs ol{list-style:none;padding:0;margin:0 0 .5rem;display:flex;flex-wrap:wrap;gap:.3rem;color:var(--muted)}
nav.crumbs li+li::before{content:"/";margin-right:.3rem}
h1{font-size:1.6rem;margin:.2rem 0 .8rem}
h2{font-size:1.2rem;margin:1.6rem 0 .5rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;overflow-wrap:anywhere}
.table{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.95rem}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;background:var(--soft)}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em;overflow-wrap:anywhere}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-weight:600;font-size:.9rem;border:1px solid;white-space:nowrap}
.passed{color:#0d5c2c;background:#e6f4ea;border-color:#0d5c2c}
.failed{color:#a50e0e;background:#fce8e6;border-color:#a50e0e}
.pending{color:#6b4e00;background:#fef7e0;border-color:#6b4e00}
.neutral{color:#333;background:#eee;border-color:#666}
.notice{padding:.6rem .8rem;border-left:4px solid;margin:.6rem 0}
button,input[type=submit]{font:inherit;padding:.3rem .8rem;border:1px solid #444;border-radius:.3rem;background:#fff;color:var(--fg);cursor:pointer}
button:focus-visible,a:focus-visible,input:focus-visible{outline:3px solid var(--link);outline-offset:2px}
label{display:block;font-weight:600;margin:.6rem 0 .2rem}
input[type=password]{font:inherit;width:100%;max-width:28rem;padding:.4rem;border:1px solid #444;border-radius:.3rem}
.muted{color:var(--muted)}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:40rem){dl.facts{grid-template-columns:1fr}th,td{padding:.3rem}}
"#;

/// The whole page: shell around `content`, with the headers every page carries.
pub(crate) fn page(chrome: &Chrome<'_>, content: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (chrome.title) " · status-checks" }
                // No favicon request.
                link rel="icon" href="data:,";
                style { (PreEscaped(STYLE)) }
                @if chrome.refresh {
                    script src="/-/pages/refresh.js" defer {}
                }
            }
            body {
                header.top {
                    a.home href="/" { "status-checks" }
                    @if let Some(username) = chrome.username {
                        span {
                            "Signed in as " a href={ "/" (username) } { "@" (username) } " "
                            form method="post" action="/users/sign_out" {
                                input type="hidden" name=(CSRF_FIELD) value=(chrome.csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    } @else {
                        a href="/users/sign_in" { "Sign in" }
                    }
                }
                main { (content) }
            }
        }
    };
    let mut response = markup.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; \
             img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The script that refreshes the parts of a page marked `data-refresh` (by id) every 5 seconds while the
/// page is visible: it fetches the page again and swaps those parts in. Without it the page is the same,
/// only still.
const REFRESH: &str = r#"(function () {
  "use strict";
  var parts = document.querySelectorAll("[data-refresh]");
  if (!parts.length || !window.fetch || !window.DOMParser) { return; }
  function refresh() {
    if (document.hidden) { return; }
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (!text) { return; }
        var fresh = new DOMParser().parseFromString(text, "text/html");
        parts.forEach(function (part) {
          var next = fresh.getElementById(part.id);
          if (next && next.innerHTML !== part.innerHTML) { part.innerHTML = next.innerHTML; }
        });
      })
      .catch(function () {});
  }
  setInterval(refresh, 5000);
})();
"#;

/// `GET /-/pages/refresh.js`.
pub(crate) async fn refresh_script() -> Response {
    let mut response = REFRESH.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A check's status: a word and a sign besides the colour.
pub(crate) fn status_badge(status: CheckStatus) -> Markup {
    let (class, sign) = match status {
        CheckStatus::Passed => ("passed", "✓"),
        CheckStatus::Failed => ("failed", "✗"),
        CheckStatus::Pending => ("pending", "●"),
    };
    html! { span class={ "badge " (class) } { span aria-hidden="true" { (sign) " " } (status.as_str()) } }
}

/// A merge request's state.
pub(crate) fn state_badge(state: MergeRequestState) -> Markup {
    let class = match state {
        MergeRequestState::Opened => "pending",
        MergeRequestState::Merged => "passed",
        MergeRequestState::Closed => "neutral",
    };
    html! { span class={ "badge " (class) } { (state.as_str()) } }
}

/// A time, readable and machine-readable, in UTC.
pub(crate) fn time(at: Timestamp) -> Markup {
    html! {
        time datetime=(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
            (at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        }
    }
}

/// An optional time, or a dash.
pub(crate) fn maybe_time(at: Option<Timestamp>) -> Markup {
    match at {
        Some(at) => time(at),
        None => html! { span.muted { "—" } },
    }
}

/// The short form of a commit SHA, with the whole one for assistive technology and on hover.
pub(crate) fn short_sha(sha: &str) -> Markup {
    let short = sha.get(..8).unwrap_or(sha);
    html! { code title=(sha) { (short) } }
}
