//! The chat section: what IVS Chat needs when a channel has a room.

use crate::address::service_origin;
use crate::channel::Channel;
use crate::chat::ChatSettings;
use crate::config::aws_key::aws_key;
use crate::config::names;
use crate::config::settings::Settings;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// What IVS Chat needs, when a channel has a `chat` room: the AWS key (a room whose tokens
/// cannot be had would be a panel that never connects, so it is required) and
/// `IVS_CHAT_API_ENDPOINT`. Without a room neither is read for chat.
pub(super) fn load_chat(settings: &Settings, channels: &BTreeMap<String, Channel>) -> Result<Option<ChatSettings>> {
    use names::*;
    let Some(first) = channels.values().find(|c| c.chat.is_some()) else { return Ok(None) };
    let why = format!(
        "channel `{}` has a chat room, and IVS Chat issues its tokens only to a request signed with {{}} (an AWS key allowed ivschat:CreateChatToken and ivschat:DisconnectUser on the rooms)",
        first.name
    );
    let credentials = aws_key(settings, &why)?;
    let endpoint = settings
        .get(IVS_CHAT_API_ENDPOINT)
        .map(service_origin)
        .transpose()
        .map_err(|e| Error::setting(IVS_CHAT_API_ENDPOINT, e))?;
    Ok(Some(ChatSettings { credentials, endpoint }))
}

#[cfg(test)]
mod tests {
    use crate::config::tests::settings;
    use crate::config::{names, Config};

    fn with_room(extra: &[(&str, &str)]) -> Result<Config, String> {
        let channels = r#"{"demo": {"arn": "arn:aws:ivs:us-west-2:123456789012:channel/demo1", "playback_url": "https://x.live-video.net/demo.m3u8",
            "chat": {"room": "arn:aws:ivschat:us-west-2:123456789012:room/abc"}}}"#;
        let mut settings = settings().with(names::CHANNELS, channels);
        for (name, value) in extra {
            settings.insert(name, *value);
        }
        Config::load(&settings).map_err(|e| e.to_string())
    }

    #[test]
    fn a_room_needs_the_aws_key_and_says_so() {
        let error = with_room(&[]).unwrap_err();
        assert!(error.starts_with("setting AWS_ACCESS_KEY_ID: is not set; channel `demo` has a chat room"), "{error}");
        assert!(
            error.contains("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") && error.contains("ivschat:CreateChatToken")
        );
        let error = with_room(&[(names::AWS_ACCESS_KEY_ID, "AKIAIOSFODNN7EXAMPLE")]).unwrap_err();
        assert!(error.starts_with("setting AWS_SECRET_ACCESS_KEY: is not set"), "{error}");
        let key = [
            (names::AWS_ACCESS_KEY_ID, "AKIAIOSFODNN7EXAMPLE"),
            (names::AWS_SECRET_ACCESS_KEY, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        ];
        let config = with_room(&key).unwrap();
        let chat = config.chat.as_ref().unwrap();
        assert_eq!((chat.credentials.access_key_id(), chat.endpoint.as_deref()), ("AKIAIOSFODNN7EXAMPLE", None));
        assert_eq!(config.channels["demo"].chat.as_ref().unwrap().region, "us-west-2");
        let mut local = key.to_vec();
        local.push((names::IVS_CHAT_API_ENDPOINT, "http://127.0.0.1:8788/"));
        assert_eq!(with_room(&local).unwrap().chat.unwrap().endpoint.as_deref(), Some("http://127.0.0.1:8788"));
        let mut remote = key.to_vec();
        remote.push((names::IVS_CHAT_API_ENDPOINT, "http://chat.example"));
        assert!(with_room(&remote).unwrap_err().starts_with("setting IVS_CHAT_API_ENDPOINT:"));
        let mut bad_key = key.to_vec();
        bad_key[1] = (names::AWS_SECRET_ACCESS_KEY, "short");
        let error = with_room(&bad_key).unwrap_err();
        assert!(error.starts_with("setting AWS_SECRET_ACCESS_KEY:") && !error.contains("short"), "{error}");
    }

    #[test]
    fn without_a_room_nothing_of_chat_is_read() {
        let config = Config::load(&settings().with(names::IVS_CHAT_API_ENDPOINT, "junk")).unwrap();
        assert!(config.chat.is_none());
    }
}
