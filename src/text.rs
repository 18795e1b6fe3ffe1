//! Small text rules every setting shares: comma-separated lists, the name rule for things that
//! appear in URLs, table-valued settings as JSON, and shortening untrusted text before an error
//! message quotes it.

/// Whether `name` may name a channel, stage or provider (it appears in URLs): `[a-z0-9-]{1,64}`.
pub fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Split a comma-separated list (origins, channel names), trimming and dropping empty entries.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Parse a table-valued setting: JSON text, or a JSON string holding JSON text (a var set with
/// `--var NAME:'{...}'`, or double-encoded). The error is the rule broken, for the setting's message.
pub fn json_setting(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str(text).map_err(|e| format!("is not valid JSON ({e})"))? {
        serde_json::Value::String(inner) => {
            serde_json::from_str(&inner).map_err(|e| format!("is a string that is not valid JSON ({e})"))
        }
        other => Ok(other),
    }
}

/// Shorten user-supplied text before quoting it in an error message.
pub(crate) fn truncate(text: &str) -> String {
    let short: String = text.chars().take(64).filter(|c| !c.is_control()).collect();
    if short.len() < text.len() {
        format!("{short}...")
    } else {
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_settings() {
        assert_eq!(json_setting(r#"{"a": 1}"#).unwrap(), serde_json::json!({"a": 1}));
        assert_eq!(json_setting(r#""{\"a\": 1}""#).unwrap(), serde_json::json!({"a": 1}));
        assert!(json_setting("{").unwrap_err().starts_with("is not valid JSON"));
        assert!(json_setting(r#""{""#).unwrap_err().starts_with("is a string that is not valid JSON"));
    }

    #[test]
    fn names() {
        assert!(is_name("demo-1"));
        assert!(is_name(&"a".repeat(64)));
        for bad in ["", "Demo", "a_b", "a b", "é", &"a".repeat(65), "../x"] {
            assert!(!is_name(bad), "{bad}");
        }
    }
}
