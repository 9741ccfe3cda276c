//! Request parameters as GitLab (Grape) reads them: from the query string, a JSON body, or a
//! form-urlencoded body (`a[]=1&a[]=2` for arrays), merged into one map, body winning over query. Values are
//! coerced the way Grape coerces: integers may arrive as numbers or numeric strings, booleans as `true`/`"1"`/
//! `"yes"`…, integer lists as arrays, comma-separated strings or a single scalar.
//!
//! Getters record Grape's messages (`<param> is missing`, `<param> is invalid`) into a [`ParamErrors`], so
//! one request reports every bad parameter at once, in declaration order.

use serde_json::{Map, Value};
use status_checks_core::ParamErrors;

/// The merged parameters of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    map: Map<String, Value>,
}

/// Adds one `key=value` pair the way Rack does: `key[]` appends to an array, a repeated plain key replaces.
fn add_pair(map: &mut Map<String, Value>, key: &str, value: &str) {
    if let Some(name) = key.strip_suffix("[]") {
        let entry = map
            .entry(name.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        match entry {
            Value::Array(items) => items.push(Value::String(value.to_owned())),
            other => *other = Value::Array(vec![Value::String(value.to_owned())]),
        }
    } else {
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

impl Params {
    /// Parameters of a query string or form body (`application/x-www-form-urlencoded`).
    pub fn from_form(encoded: &[u8]) -> Self {
        let mut map = Map::new();
        for (key, value) in form_urlencoded::parse(encoded) {
            add_pair(&mut map, &key, &value);
        }
        Params { map }
    }

    /// Parameters of a JSON object body.
    pub fn from_json(object: Map<String, Value>) -> Self {
        Params { map: object }
    }

    /// Adds `other`'s parameters, replacing those of the same name.
    pub fn merge(&mut self, other: Params) {
        self.map.extend(other.map);
    }

    /// The raw value; JSON `null` counts as absent.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Whether the parameter was sent.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The value as the text it would be in a query string (numbers and booleans included), for parameters
    /// such as `page` that are validated elsewhere. Arrays and objects are "not text": `Some("")` never matches
    /// a valid value.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key).map(|v| as_text(v).unwrap_or_default())
    }

    /// The raw value, or `None` after recording `<key> is missing`.
    fn required(&self, key: &str, errors: &mut ParamErrors) -> Option<&Value> {
        let value = self.get(key);
        if value.is_none() {
            errors.missing(key);
        }
        value
    }

    /// A required string: `<key> is missing` if absent, `<key> is invalid` if not a scalar.
    pub fn required_string(&self, key: &str, errors: &mut ParamErrors) -> Option<String> {
        let value = self.required(key, errors)?;
        or_invalid(as_text(value), key, errors)
    }

    /// A string if sent: `<key> is invalid` unless a scalar (numbers and booleans count as their text).
    pub fn optional_string(&self, key: &str, errors: &mut ParamErrors) -> Option<String> {
        or_invalid(as_text(self.get(key)?), key, errors)
    }

    /// An integer, a JSON number or a numeric string: `<key> is missing` if absent, `<key> is invalid` if
    /// not an integer.
    pub fn required_integer(&self, key: &str, errors: &mut ParamErrors) -> Option<i64> {
        let value = self.required(key, errors)?;
        or_invalid(integer(value), key, errors)
    }

    /// An integer if sent, coerced as by [`Params::required_integer`].
    pub fn optional_integer(&self, key: &str, errors: &mut ParamErrors) -> Option<i64> {
        or_invalid(integer(self.get(key)?), key, errors)
    }

    /// A boolean if sent: `true`/`false`, `1`/`0`, or the strings `t`, `yes`, `y`, `on` and their negatives;
    /// `<key> is invalid` otherwise.
    pub fn optional_bool(&self, key: &str, errors: &mut ParamErrors) -> Option<bool> {
        let value = self.get(key)?;
        let parsed = match value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "1" | "yes" | "y" | "on" => Some(true),
                "false" | "f" | "0" | "no" | "n" | "off" => Some(false),
                _ => None,
            },
            _ => None,
        };
        or_invalid(parsed, key, errors)
    }

    /// An optional list of integers: an array, a comma-separated string, or one scalar. Empty strings in it
    /// are skipped, so `ids[]=` and `""` mean an empty list.
    pub fn optional_integer_list(&self, key: &str, errors: &mut ParamErrors) -> Option<Vec<i64>> {
        let value = self.get(key)?;
        let items: Vec<Value> = match value {
            Value::Array(items) => items.clone(),
            Value::String(s) => s
                .split(',')
                .map(|part| Value::String(part.trim().to_owned()))
                .collect(),
            Value::Number(_) => vec![value.clone()],
            _ => {
                errors.invalid(key);
                return None;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if matches!(&item, Value::String(s) if s.trim().is_empty()) {
                continue;
            }
            match integer(&item) {
                Some(n) => out.push(n),
                None => {
                    errors.invalid(key);
                    return None;
                }
            }
        }
        Some(out)
    }

    /// An optional list of strings: an array, a comma-separated string, or one scalar.
    pub fn optional_string_list(&self, key: &str, errors: &mut ParamErrors) -> Option<Vec<String>> {
        let value = self.get(key)?;
        let items: Vec<String> = match value {
            Value::Array(items) => match items.iter().map(as_text).collect::<Option<Vec<_>>>() {
                Some(items) => items,
                None => {
                    errors.invalid(key);
                    return None;
                }
            },
            other => match as_text(other) {
                Some(s) => s.split(',').map(|p| p.trim().to_owned()).collect(),
                None => {
                    errors.invalid(key);
                    return None;
                }
            },
        };
        Some(items.into_iter().filter(|s| !s.is_empty()).collect())
    }
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Grape's Integer coercion: a JSON integer, or a string holding one (optional sign, digits).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let s = s.trim();
            let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        }
        _ => None,
    }
}

/// `parsed`, or `None` after recording `<key> is invalid`: Grape's message for a value it cannot coerce.
pub(crate) fn or_invalid<T>(parsed: Option<T>, key: &str, errors: &mut ParamErrors) -> Option<T> {
    if parsed.is_none() {
        errors.invalid(key);
    }
    parsed
}

/// `parsed`, or `None` after recording `<key> does not have a valid value`: Grape's message for a value outside
/// the allowed ones.
pub(crate) fn or_not_valid_value<T>(
    parsed: Option<T>,
    key: &str,
    errors: &mut ParamErrors,
) -> Option<T> {
    if parsed.is_none() {
        errors.not_valid_value(key);
    }
    parsed
}

/// What a handler makes of its parameters: `build`'s input, or every error recorded in `errors` while reading
/// them. `build` applies `?` to the values it requires; a getter answers `None` only after recording why, so with
/// no error recorded every required value is there.
pub(crate) fn checked<T>(
    errors: ParamErrors,
    build: impl FnOnce() -> Option<T>,
) -> Result<T, ParamErrors> {
    if !errors.is_empty() {
        return Err(errors);
    }
    build().ok_or(errors)
}

/// Parses a path segment that must be an integer id (`<name> is invalid` otherwise).
pub fn path_id(raw: &str, name: &str) -> Result<i64, ParamErrors> {
    integer(&Value::String(raw.to_owned()))
        .ok_or_else(|| ParamErrors::one(format!("{name} is invalid")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_params(value: Value) -> Params {
        match value {
            Value::Object(map) => Params::from_json(map),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn forms_arrays_and_precedence() {
        let mut params = Params::from_form(b"ids[]=1&ids[]=2&name=a&name=b&empty[]=");
        assert_eq!(params.get("ids"), Some(&json!(["1", "2"])));
        assert_eq!(params.get("name"), Some(&json!("b")));
        let mut errors = ParamErrors::new();
        assert_eq!(
            params.optional_integer_list("ids", &mut errors),
            Some(vec![1, 2])
        );
        assert_eq!(
            params.optional_integer_list("empty", &mut errors),
            Some(vec![])
        );
        params.merge(json_params(json!({"name": "json"})));
        assert_eq!(params.get("name"), Some(&json!("json")));
        assert!(errors.is_empty());
    }

    #[test]
    fn integer_coercions() {
        let params = json_params(
            json!({"a": 5, "b": "6", "c": "7x", "d": 1.5, "e": " 8 ", "f": [1], "g": "-3"}),
        );
        let mut errors = ParamErrors::new();
        assert_eq!(params.optional_integer("a", &mut errors), Some(5));
        assert_eq!(params.optional_integer("b", &mut errors), Some(6));
        assert_eq!(params.optional_integer("e", &mut errors), Some(8));
        assert_eq!(params.optional_integer("g", &mut errors), Some(-3));
        assert!(errors.is_empty());
        for key in ["c", "d", "f"] {
            let mut errors = ParamErrors::new();
            assert_eq!(params.optional_integer(key, &mut errors), None);
            assert_eq!(errors.to_string(), format!("{key} is invalid"));
        }
        assert_eq!(params.required_integer("zz", &mut errors), None);
        assert_eq!(errors.to_string(), "zz is missing");
    }

    #[test]
    fn integer_lists_in_every_spelling() {
        let params = json_params(
            json!({"a": [1, "2"], "b": "3,4", "c": 5, "d": "6", "e": [], "f": ["x"], "g": {"k": 1}}),
        );
        let mut errors = ParamErrors::new();
        assert_eq!(
            params.optional_integer_list("a", &mut errors),
            Some(vec![1, 2])
        );
        assert_eq!(
            params.optional_integer_list("b", &mut errors),
            Some(vec![3, 4])
        );
        assert_eq!(
            params.optional_integer_list("c", &mut errors),
            Some(vec![5])
        );
        assert_eq!(
            params.optional_integer_list("d", &mut errors),
            Some(vec![6])
        );
        assert_eq!(params.optional_integer_list("e", &mut errors), Some(vec![]));
        assert!(errors.is_empty());
        assert_eq!(params.optional_integer_list("f", &mut errors), None);
        assert_eq!(params.optional_integer_list("g", &mut errors), None);
        assert_eq!(errors.to_string(), "f is invalid, g is invalid");
    }

    #[test]
    fn booleans_strings_and_nulls() {
        let params = json_params(
            json!({"a": true, "b": "false", "c": "1", "d": "maybe", "n": null, "s": 12}),
        );
        let mut errors = ParamErrors::new();
        assert_eq!(params.optional_bool("a", &mut errors), Some(true));
        assert_eq!(params.optional_bool("b", &mut errors), Some(false));
        assert_eq!(params.optional_bool("c", &mut errors), Some(true));
        assert_eq!(params.optional_string("s", &mut errors), Some("12".into()));
        assert!(!params.has("n"));
        assert!(errors.is_empty());
        assert_eq!(params.optional_bool("d", &mut errors), None);
        assert_eq!(errors.to_string(), "d is invalid");
    }

    #[test]
    fn inputs_only_without_errors() {
        let params = json_params(json!({"a": "x"}));
        let mut errors = ParamErrors::new();
        let a = params.required_string("a", &mut errors);
        assert_eq!(checked(errors, || Some((a?, 1))), Ok(("x".to_owned(), 1)));
        let mut errors = ParamErrors::new();
        let b = params.required_string("b", &mut errors);
        let called = std::cell::Cell::new(false);
        let built = checked(errors, || {
            called.set(true);
            b
        });
        assert_eq!(built, Err(ParamErrors::one("b is missing")));
        assert!(!called.get(), "not built when a parameter is wrong");
    }

    #[test]
    fn path_ids() {
        assert_eq!(path_id("12", "merge_request_iid"), Ok(12));
        assert_eq!(
            path_id("x", "merge_request_iid"),
            Err(ParamErrors::one("merge_request_iid is invalid"))
        );
        assert!(path_id("", "id").is_err());
        assert!(path_id("99999999999999999999999", "id").is_err());
    }
}
