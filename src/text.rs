//! Small text rules every setting shares: comma-separated lists, the name rule for things that
//! appear in URLs, and shortening untrusted text before an error message quotes it.

/// Whether `name` may name a channel, stage or provider (it appears in URLs): `[a-z0-9-]{1,64}`.
pub fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Split a comma-separated list (origins, channel names), trimming and dropping empty entries.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
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
    fn names() {
        assert!(is_name("demo-1"));
        assert!(is_name(&"a".repeat(64)));
        for bad in ["", "Demo", "a_b", "a b", "é", &"a".repeat(65), "../x"] {
            assert!(!is_name(bad), "{bad}");
        }
    }
}
