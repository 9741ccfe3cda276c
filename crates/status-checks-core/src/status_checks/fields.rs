//! The one validation of a check's fields that creating (E2) and updating (E3) share, as a pure function.
//!
//! Both answer 422 with every message at once, as Rails' full messages. They differ in one thing only, kept
//! from GitLab: creating lists the format errors of every field before the uniqueness errors, while updating
//! lists each field's messages in turn.

use crate::error::BRANCHES_MUST_EXIST;
use crate::status_checks::{CheckName, ExternalStatusCheck, ExternalUrl, SharedSecret, UrlPolicy};

/// Which write the fields are for: it decides the order of the messages (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// E2: every field is validated; name and URL are required (a blank one is refused).
    Create,
    /// E3: only the fields sent are validated.
    Update,
}

/// A check's fields as sent, before validation; `None` is a key not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawFields<'a> {
    /// `name`.
    pub name: Option<&'a str>,
    /// `external_url`.
    pub external_url: Option<&'a str>,
    /// `shared_secret`; blank clears it.
    pub shared_secret: Option<&'a str>,
}

/// A check's fields, validated; `None` is a key not sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fields {
    /// The name, not taken by another check of the project.
    pub name: Option<CheckName>,
    /// The URL, not taken by another check of the project.
    pub external_url: Option<ExternalUrl>,
    /// The secret (`Some(None)`: no secret).
    pub shared_secret: Option<Option<SharedSecret>>,
}

enum Outcome<T> {
    NotSent,
    Valid(T),
    Invalid(Vec<String>),
    Taken(&'static str),
}

impl<T> Outcome<T> {
    fn of(raw: Option<&str>, parse: impl FnOnce(&str) -> Result<T, Vec<String>>) -> Self {
        match raw.map(parse) {
            None => Outcome::NotSent,
            Some(Ok(value)) => Outcome::Valid(value),
            Some(Err(messages)) => Outcome::Invalid(messages),
        }
    }

    /// `Taken(message)` if the valid value is already used.
    fn unless_taken(self, taken: impl FnOnce(&T) -> bool, message: &'static str) -> Self {
        match self {
            Outcome::Valid(value) if taken(&value) => Outcome::Taken(message),
            other => other,
        }
    }

    fn format_errors(&self) -> &[String] {
        match self {
            Outcome::Invalid(messages) => messages,
            _ => &[],
        }
    }

    fn taken(&self) -> Option<&'static str> {
        match self {
            Outcome::Taken(message) => Some(message),
            _ => None,
        }
    }

    fn value(self) -> Option<T> {
        match self {
            Outcome::Valid(value) => Some(value),
            _ => None,
        }
    }
}

/// Validates a check's fields against the project's `others` (its checks but the one updated), whether
/// every protected branch of the new scope exists in the project, and the URL rules. The error is every
/// 422 message, in the order of `write`.
pub fn validate(
    write: Write,
    raw: RawFields<'_>,
    others: &[&ExternalStatusCheck],
    branches_exist: bool,
    policy: &UrlPolicy,
) -> Result<Fields, Vec<String>> {
    let name = Outcome::of(raw.name, |raw| {
        CheckName::parse(raw).map_err(|m| vec![m.to_owned()])
    })
    .unless_taken(
        |name| others.iter().any(|c| &c.name == name),
        "Name has already been taken",
    );
    let url = Outcome::of(raw.external_url, |raw| ExternalUrl::parse_with(raw, policy))
        .unless_taken(
            |url| others.iter().any(|c| &c.external_url == url),
            "External url has already been taken",
        );
    let secret = Outcome::of(raw.shared_secret, |raw| {
        SharedSecret::parse(raw).map_err(|m| vec![m.to_owned()])
    });

    let mut messages: Vec<String> = Vec::new();
    match write {
        Write::Create => {
            messages.extend_from_slice(name.format_errors());
            messages.extend_from_slice(url.format_errors());
            messages.extend_from_slice(secret.format_errors());
            messages.extend(name.taken().into_iter().map(str::to_owned));
            messages.extend(url.taken().into_iter().map(str::to_owned));
        }
        Write::Update => {
            for (format, taken) in [
                (name.format_errors(), name.taken()),
                (url.format_errors(), url.taken()),
                (secret.format_errors(), None),
            ] {
                messages.extend_from_slice(format);
                messages.extend(taken.map(str::to_owned));
            }
        }
    }
    if !branches_exist {
        messages.push(BRANCHES_MUST_EXIST.into());
    }
    if !messages.is_empty() {
        return Err(messages);
    }
    Ok(Fields {
        name: name.value(),
        external_url: url.value(),
        shared_secret: secret.value(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use crate::ids::{ProjectId, StatusCheckId};
    use proptest::prelude::*;

    fn existing() -> ExternalStatusCheck {
        ExternalStatusCheck {
            id: StatusCheckId(1),
            project_id: ProjectId(1),
            name: CheckName::parse("taken").unwrap_or_else(|e| panic!("{e}")),
            external_url: ExternalUrl::from_stored("https://taken.example.com".into()),
            shared_secret: None,
            protected_branches: Vec::new(),
            created_at: Timestamp::default(),
            updated_at: Timestamp::default(),
        }
    }

    fn raw<'a>(name: &'a str, url: &'a str, secret: &'a str) -> RawFields<'a> {
        RawFields {
            name: Some(name),
            external_url: Some(url),
            shared_secret: Some(secret),
        }
    }

    #[test]
    fn creating_lists_format_errors_before_uniqueness_and_updating_field_by_field() {
        let other = existing();
        let long_secret = "s".repeat(256);
        let sent = raw("taken", "ftp://x", &long_secret);
        let expected_create = vec![
            "External url must be a valid URL".to_owned(),
            "Shared secret is too long (maximum is 255 characters)".to_owned(),
            "Name has already been taken".to_owned(),
        ];
        assert_eq!(
            validate(Write::Create, sent, &[&other], true, &UrlPolicy::default()),
            Err(expected_create)
        );
        let expected_update = vec![
            "Name has already been taken".to_owned(),
            "External url must be a valid URL".to_owned(),
            "Shared secret is too long (maximum is 255 characters)".to_owned(),
            BRANCHES_MUST_EXIST.to_owned(),
        ];
        assert_eq!(
            validate(Write::Update, sent, &[&other], false, &UrlPolicy::default()),
            Err(expected_update)
        );
    }

    #[test]
    fn only_the_fields_sent_are_validated_and_returned() {
        let other = existing();
        let fields = validate(
            Write::Update,
            RawFields {
                shared_secret: Some(""),
                ..RawFields::default()
            },
            &[&other],
            true,
            &UrlPolicy::default(),
        );
        assert_eq!(
            fields,
            Ok(Fields {
                name: None,
                external_url: None,
                shared_secret: Some(None),
            })
        );
    }

    proptest! {
        /// Both writes refuse exactly the same inputs with the same set of messages; only the order differs.
        #[test]
        fn create_and_update_agree_but_for_the_order(
            name in prop_oneof![Just("taken".to_owned()), Just(" ".to_owned()), "[a-z]{1,8}", "x{250,260}"],
            url in prop_oneof![Just("https://taken.example.com".to_owned()), Just("http://127.0.0.1/".to_owned()), Just("nope".to_owned()), "https://[a-z]{1,8}\\.example\\.com/[a-z]{0,5}"],
            secret in prop_oneof![Just(String::new()), "[a-z]{1,8}", "s{250,260}"],
            branches_exist in any::<bool>(),
        ) {
            let other = existing();
            let sent = raw(&name, &url, &secret);
            let created = validate(Write::Create, sent, &[&other], branches_exist, &UrlPolicy::default());
            let updated = validate(Write::Update, sent, &[&other], branches_exist, &UrlPolicy::default());
            match (created, updated) {
                (Ok(a), Ok(b)) => {
                    prop_assert_eq!(&a, &b);
                    prop_assert_eq!(a.name.map(|n| n.as_str().to_owned()), Some(name));
                    prop_assert_eq!(a.external_url.map(|u| u.as_str().to_owned()), Some(url));
                }
                (Err(mut a), Err(mut b)) => {
                    prop_assert!(!a.is_empty());
                    a.sort();
                    b.sort();
                    prop_assert_eq!(a, b);
                }
                (a, b) => prop_assert!(false, "create {a:?} but update {b:?}"),
            }
        }
    }
}
