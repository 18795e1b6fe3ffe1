//! Per-channel access rules beyond the session's `channels` grant: the viewer's groups and the
//! country the request comes from. Each refusal names the rule, never the viewer's groups.

use crate::identity::Session;
use serde_json::{Map, Value};

/// The access rules of one channel. Empty rules allow everyone the session grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRules {
    /// The viewer must be in one of these groups.
    pub groups: Option<Vec<String>>,
    /// The request must come from one of these countries (ISO 3166-1 alpha-2, upper case).
    pub allowed_countries: Option<Vec<String>>,
    /// The request must not come from one of these countries.
    pub blocked_countries: Option<Vec<String>>,
}

/// The fields of a channel that hold access rules.
pub const FIELDS: [&str; 3] = ["groups", "allowed_countries", "blocked_countries"];

/// A list of group (or country) names in a table's `field`: a JSON list of strings or one
/// comma-separated string, non-empty, each name 1 to `MAX_GROUP_LEN` bytes; `None` when absent.
/// The one reader of such lists (channels' and stages' group rules). `Err`: the rule, to be
/// prefixed with where it was broken.
pub fn name_list(object: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, String> {
    let rule = || "must be a non-empty list of names (or a comma-separated string)".to_owned();
    let items: Vec<String> = match object.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => crate::text::split_list(s),
        Some(Value::Array(items)) => {
            items.iter().map(|v| v.as_str().map(|s| s.trim().to_owned())).collect::<Option<_>>().ok_or_else(rule)?
        }
        Some(_) => return Err(rule()),
    };
    if items.is_empty() || items.iter().any(|s| s.is_empty() || s.len() > crate::identity::MAX_GROUP_LEN) {
        return Err(rule());
    }
    Ok(Some(items))
}

fn list(object: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, String> {
    name_list(object, field).map_err(|rule| format!("`{field}` {rule}"))
}

fn countries(object: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, String> {
    let Some(items) = list(object, field)? else { return Ok(None) };
    items
        .into_iter()
        .map(|code| {
            let upper = code.to_ascii_uppercase();
            if upper.len() == 2 && upper.bytes().all(|b| b.is_ascii_uppercase()) {
                Ok(upper)
            } else {
                Err(format!(
                    "`{field}`: `{}` is not an ISO 3166-1 alpha-2 country code such as US or DE",
                    crate::text::truncate(&code)
                ))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

impl AccessRules {
    /// Read the rule fields of a channel's JSON object (other fields are the caller's).
    pub fn from_object(object: &Map<String, Value>) -> Result<Self, String> {
        let rules = Self {
            groups: list(object, "groups")?,
            allowed_countries: countries(object, "allowed_countries")?,
            blocked_countries: countries(object, "blocked_countries")?,
        };
        if rules.allowed_countries.is_some() && rules.blocked_countries.is_some() {
            return Err("set `allowed_countries` or `blocked_countries`, not both".into());
        }
        Ok(rules)
    }

    /// Whether `session`, requesting from `country` (upper-case alpha-2, `None` when unknown),
    /// passes every rule; otherwise the rule that refused, in words for the viewer.
    pub fn check(&self, session: &Session, country: Option<&str>) -> Result<(), String> {
        if let Some(groups) = &self.groups {
            if !session.in_any_group(groups) {
                return Err("it is open only to members of certain groups, and this account is in none of them".into());
            }
        }
        if let Some(allowed) = &self.allowed_countries {
            // An unknown country cannot be shown to be allowed.
            if !country.is_some_and(|c| allowed.iter().any(|a| a == c)) {
                return Err("it is not available in the country this request comes from".into());
            }
        }
        if let Some(blocked) = &self.blocked_countries {
            if country.is_some_and(|c| blocked.iter().any(|b| b == c)) {
                return Err("it is not available in the country this request comes from".into());
            }
        }
        Ok(())
    }
}

/// A country code as a request carries it (`request.cf.country`, or the local stand-in header),
/// normalised; `None` unless it is two ASCII letters (Cloudflare's `XX` and `T1` stay as they are:
/// they match no list of real countries).
pub fn normalize_country(code: &str) -> Option<String> {
    let code = code.trim();
    (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| code.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(value: Value) -> Result<AccessRules, String> {
        AccessRules::from_object(value.as_object().unwrap())
    }

    #[test]
    fn groups_rule() {
        let r = rules(json!({"groups": ["members", "staff"]})).unwrap();
        let mut s = Session::new("a", 1);
        let refusal = r.check(&s, None).unwrap_err();
        assert!(refusal.contains("certain groups"));
        s.groups = vec!["other".into(), "secret-group-name".into()];
        assert!(!r.check(&s, None).unwrap_err().contains("secret-group-name"), "the viewer's groups are never echoed");
        s.groups.push("staff".into());
        assert!(r.check(&s, None).is_ok());
        assert!(rules(json!({})).unwrap().check(&Session::new("a", 1), None).is_ok());
    }

    #[test]
    fn country_rules() {
        let s = Session::new("a", 1);
        let allow = rules(json!({"allowed_countries": "us, de"})).unwrap();
        assert_eq!(allow.allowed_countries.as_deref(), Some(&["US".to_owned(), "DE".to_owned()][..]));
        assert!(allow.check(&s, Some("DE")).is_ok());
        assert!(allow.check(&s, Some("FR")).unwrap_err().contains("country"));
        assert!(allow.check(&s, None).is_err(), "unknown country is not allowed");
        let block = rules(json!({"blocked_countries": ["RU"]})).unwrap();
        assert!(block.check(&s, Some("RU")).is_err());
        assert!(block.check(&s, Some("US")).is_ok() && block.check(&s, None).is_ok());
        assert_eq!(normalize_country(" de "), Some("DE".into()));
        assert_eq!(normalize_country("T1"), Some("T1".into()));
        assert_eq!(normalize_country("DEU"), None);
    }

    #[test]
    fn bad_rules() {
        for (value, expected) in [
            (json!({"groups": []}), "`groups` must be"),
            (json!({"groups": [1]}), "`groups` must be"),
            (json!({"groups": 5}), "`groups` must be"),
            (json!({"allowed_countries": ["USA"]}), "not an ISO 3166-1 alpha-2"),
            (json!({"blocked_countries": ["1"]}), "not an ISO"),
            (json!({"allowed_countries": ["US"], "blocked_countries": ["RU"]}), "not both"),
        ] {
            assert!(rules(value.clone()).unwrap_err().contains(expected), "{value}");
        }
    }
}
