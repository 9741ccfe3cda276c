//! URL redaction: how much of a check's URL each caller may see (docs/api.md §5, "Redaction of `external_url`"). A URL may carry
//! credentials or a token in its query string; only Maintainers see it whole.

/// How much of a check's URL someone may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UrlVisibility {
    /// Nothing: the URL reads `""` (Reporters).
    Hidden,
    /// The URL without query string or credentials (Developers; everyone on E5/E6).
    WithoutQuery,
    /// The URL as stored (Maintainers and admins on E1–E4).
    Full,
}

/// Redacts a URL for `visibility`. `WithoutQuery` drops the query string (and a fragment after it) and any
/// `user:password@` credentials; everything else stays exactly as stored.
pub fn redact(url: &str, visibility: UrlVisibility) -> String {
    match visibility {
        UrlVisibility::Full => url.to_owned(),
        UrlVisibility::Hidden => String::new(),
        UrlVisibility::WithoutQuery => {
            let without_query = url.split('?').next().unwrap_or_default();
            match without_query.find("://") {
                Some(scheme_end) => {
                    let authority_start = scheme_end + 3;
                    let rest = &without_query[authority_start..];
                    let authority_len = rest.find(['/', '#']).unwrap_or(rest.len());
                    let authority = &rest[..authority_len];
                    let host = authority
                        .rsplit_once('@')
                        .map_or(authority, |(_, host)| host);
                    let path = &rest[authority_len..];
                    let mut shown = String::with_capacity(without_query.len());
                    shown.push_str(&without_query[..authority_start]);
                    shown.push_str(host);
                    shown.push_str(path);
                    shown
                }
                None => without_query.to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn redaction() {
        let url = "https://user:pw@ci.example.com:8443/hook?token=s3cret#frag";
        assert_eq!(redact(url, UrlVisibility::Full), url);
        assert_eq!(redact(url, UrlVisibility::Hidden), "");
        assert_eq!(
            redact(url, UrlVisibility::WithoutQuery),
            "https://ci.example.com:8443/hook"
        );
        assert_eq!(
            redact("http://h:8080", UrlVisibility::WithoutQuery),
            "http://h:8080"
        );
        assert_eq!(
            redact("http://h/p#a?b", UrlVisibility::WithoutQuery),
            "http://h/p#a"
        );
    }

    proptest! {
        #[test]
        fn redaction_never_leaks_a_query_or_credentials(
            host in "[a-z]{1,10}\\.[a-z]{2,3}",
            path in "(/[a-z0-9]{0,5}){0,3}",
            query in "[a-z0-9=&?/@:]{1,20}",
            creds in proptest::option::of("[a-z]{1,5}:[a-z]{1,5}"),
        ) {
            let userinfo = creds.as_ref().map(|c| format!("{c}@")).unwrap_or_default();
            let url = format!("https://{userinfo}{host}{path}?{query}");
            let shown = redact(&url, UrlVisibility::WithoutQuery);
            prop_assert_eq!(&shown, &format!("https://{host}{path}"));
            prop_assert!(!shown.contains('?'));
            prop_assert_eq!(redact(&url, UrlVisibility::Hidden), "");
        }
    }
}
