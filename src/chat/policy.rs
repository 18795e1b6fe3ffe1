//! What one viewer gets in a channel's chat room: the capabilities their groups earn, the
//! attributes other viewers see with their messages, and how long the chat session may last.
//! Every way the worker asks IVS Chat for a token goes here.
//!
//! - `userId` is the viewer id, the same keyed hash of source and subject as playback's
//!   `aws:viewer-id`, so a chat moderator's disconnect and an operator's revocation name the same
//!   person, and no subject or e-mail is shown to the room.
//! - Capabilities: a moderator (in a `moderators` group) may send, delete messages and disconnect
//!   users; a sender (in a `senders` group, or anyone when the room lists none) may send; anyone
//!   else the channel grants may read. Receiving needs no capability at IVS.
//! - Attributes: `role`, and `display_name` from the configured claim, made safe to show (no
//!   control or bidirectional-override characters, at most 64 characters); in all within IVS's
//!   1 KB.
//! - The session lasts until the viewer's own session ends, in whole minutes, 1 to 180 (IVS's
//!   range): a chat connection never outlives the sign-in that opened it.

use super::Room;
use crate::error::{Error, Result, SessionFault};
use crate::identity::viewer_id::ViewerIdKey;
use crate::identity::Session;
use crate::ivs::{attributes_size, ATTRIBUTES_MAX_BYTES};
use std::collections::BTreeMap;

/// IVS Chat: `sessionDurationInMinutes` is 1 to 180.
pub const MAX_SESSION_MINUTES: u64 = 180;
/// IVS Chat: `userId` is 1 to 128 characters (the worker's viewer ids are 40).
pub const USER_ID_MAX_CHARS: usize = 128;
/// The longest display name shown, in characters.
pub const DISPLAY_NAME_MAX_CHARS: usize = 64;

/// A capability of a chat token (IVS Chat's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// `SEND_MESSAGE`.
    SendMessage,
    /// `DELETE_MESSAGE`.
    DeleteMessage,
    /// `DISCONNECT_USER`.
    DisconnectUser,
}

impl Capability {
    /// The name IVS Chat uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendMessage => "SEND_MESSAGE",
            Self::DeleteMessage => "DELETE_MESSAGE",
            Self::DisconnectUser => "DISCONNECT_USER",
        }
    }
}

/// What a viewer may do in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Send, delete messages, disconnect users.
    Moderator,
    /// Send.
    Sender,
    /// Read only.
    Reader,
}

impl Role {
    /// The `role` attribute, and the answer's `role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Moderator => "moderator",
            Self::Sender => "sender",
            Self::Reader => "reader",
        }
    }

    /// The role named `name` (`moderator`, `sender`, `reader`: [`Role::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Moderator, Self::Sender, Self::Reader].into_iter().find(|role| role.as_str() == name)
    }

    /// The capabilities the role carries.
    pub fn capabilities(self) -> &'static [Capability] {
        match self {
            Self::Moderator => &[Capability::SendMessage, Capability::DeleteMessage, Capability::DisconnectUser],
            Self::Sender => &[Capability::SendMessage],
            Self::Reader => &[],
        }
    }
}

/// The role `session` has in `room` (the channel already granted).
pub fn role(room: &Room, session: &Session) -> Role {
    if room.moderators.as_ref().is_some_and(|groups| session.in_any_group(groups)) {
        Role::Moderator
    } else if room.senders.as_ref().is_none_or(|groups| session.in_any_group(groups)) {
        Role::Sender
    } else {
        Role::Reader
    }
}

/// What the worker asks IVS Chat for, for one viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatGrant {
    /// `userId`: the viewer id.
    pub user_id: String,
    /// The viewer's role (and so `capabilities`).
    pub role: Role,
    /// `attributes`.
    pub attributes: BTreeMap<String, String>,
    /// `sessionDurationInMinutes`.
    pub session_minutes: u64,
}

/// The grant for `session` in `room` at `now`. `Err`: the session ends within the minute (a
/// chat session cannot be shorter), so it must be renewed first.
pub fn grant(room: &Room, session: &Session, viewer_ids: &ViewerIdKey, now: u64) -> Result<ChatGrant> {
    let session_minutes = (session.exp.saturating_sub(now) / 60).min(MAX_SESSION_MINUTES);
    if session_minutes == 0 {
        return Err(Error::Session(SessionFault::Expired));
    }
    let role = role(room, session);
    let name = room.display_name_claim.as_deref().and_then(|claim| session.claim_text(claim));
    let attributes = attributes(role, name.as_deref());
    Ok(ChatGrant { user_id: viewer_ids.viewer_id_for(session), role, attributes, session_minutes })
}

/// The `attributes` of a token for `role`: `role`, and `display_name` when `name` (the configured
/// claim's value, or what `ivs-token chat-token --display-name` was given) shows anything once
/// made safe by [`display_name`].
pub fn attributes(role: Role, name: Option<&str>) -> BTreeMap<String, String> {
    let mut attributes = BTreeMap::from([("role".to_owned(), role.as_str().to_owned())]);
    if let Some(name) = name.map(display_name).filter(|name| !name.is_empty()) {
        attributes.insert("display_name".into(), name);
    }
    // Cannot fail with a 64-character name; checked so that a future attribute cannot break
    // IVS's limit unnoticed.
    if attributes_size(&attributes) > ATTRIBUTES_MAX_BYTES {
        attributes.remove("display_name");
    }
    attributes
}

/// `text` as a name other viewers may see: control and invisible formatting characters (which
/// could reorder or hide the text around it) removed, runs of white space made one space, at most
/// [`DISPLAY_NAME_MAX_CHARS`] characters.
pub fn display_name(text: &str) -> String {
    let visible = text.chars().filter(|c| !c.is_control() && !is_invisible_format(*c)).collect::<String>();
    visible.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(DISPLAY_NAME_MAX_CHARS).collect()
}

/// Bidirectional overrides and isolates, zero-width characters, the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn room(extra: serde_json::Value) -> Room {
        let mut value = json!({"room": "arn:aws:ivschat:us-west-2:123456789012:room/abc"});
        value.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        Room::from_json(&value).unwrap()
    }

    fn session(groups: &[&str]) -> Session {
        let mut session = Session::new("alice", NOW + 3600);
        session.groups = groups.iter().map(|g| g.to_string()).collect();
        session
    }

    #[test]
    fn groups_earn_capabilities() {
        let open = room(json!({"moderators": ["staff"]}));
        assert_eq!(role(&open, &session(&[])), Role::Sender, "no senders list: everyone granted may send");
        assert_eq!(role(&open, &session(&["staff"])), Role::Moderator);
        let closed = room(json!({"moderators": ["staff"], "senders": ["members"]}));
        assert_eq!(role(&closed, &session(&[])), Role::Reader);
        assert_eq!(role(&closed, &session(&["members"])), Role::Sender);
        assert_eq!(role(&closed, &session(&["staff"])), Role::Moderator, "a moderator sends too");
        let names = |r: Role| r.capabilities().iter().map(|c| c.as_str()).collect::<Vec<_>>();
        assert_eq!(names(Role::Moderator), ["SEND_MESSAGE", "DELETE_MESSAGE", "DISCONNECT_USER"]);
        assert_eq!(names(Role::Sender), ["SEND_MESSAGE"]);
        assert!(names(Role::Reader).is_empty());
        for role in [Role::Moderator, Role::Sender, Role::Reader] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Moderator"), None);
    }

    #[test]
    fn attributes_are_the_role_and_a_safe_name_if_any() {
        let only_role = BTreeMap::from([("role".to_owned(), "reader".to_owned())]);
        assert_eq!(attributes(Role::Reader, None), only_role);
        assert_eq!(attributes(Role::Reader, Some(" \u{202E}\n ")), only_role, "nothing to show: no name");
        assert_eq!(
            attributes(Role::Sender, Some(" Bob\u{200B} ")).get("display_name").map(String::as_str),
            Some("Bob")
        );
    }

    #[test]
    fn user_id_is_the_viewer_id_and_no_claim_is_shown_unless_configured() {
        let key = ViewerIdKey::from_secret(&[7; 32]);
        let mut viewer = session(&[]);
        viewer.claims.insert("email".into(), json!("alice@example.com"));
        viewer.claims.insert("nickname".into(), json!("Alice"));
        let plain = grant(&room(json!({})), &viewer, &key, NOW).unwrap();
        assert_eq!(plain.user_id, key.viewer_id_for(&viewer));
        assert_eq!(plain.attributes, BTreeMap::from([("role".to_owned(), "sender".to_owned())]));
        let named = grant(&room(json!({"display_name_claim": "nickname"})), &viewer, &key, NOW).unwrap();
        assert_eq!(named.attributes.get("display_name").map(String::as_str), Some("Alice"));
        let missing = grant(&room(json!({"display_name_claim": "name"})), &viewer, &key, NOW).unwrap();
        assert!(!missing.attributes.contains_key("display_name"));
    }

    #[test]
    fn display_names_are_made_safe_and_bounded() {
        assert_eq!(display_name("  Ali\u{202E}ce\n\t Smith\u{200B} "), "Alice Smith");
        assert_eq!(display_name("<b>x</b>"), "<b>x</b>", "markup stays text: the page renders it as text");
        assert_eq!(display_name(&"é".repeat(500)).chars().count(), DISPLAY_NAME_MAX_CHARS);
        assert_eq!(display_name("\u{0007}\u{2066}"), "");
        let key = ViewerIdKey::from_secret(&[7; 32]);
        let mut viewer = session(&["staff"]);
        viewer.claims.insert("name".into(), json!("\u{1F600}".repeat(1000)));
        let granted = grant(&room(json!({"display_name_claim": "name", "moderators": "staff"})), &viewer, &key, NOW);
        let attributes = granted.unwrap().attributes;
        assert!(attributes_size(&attributes) <= ATTRIBUTES_MAX_BYTES);
        assert_eq!(attributes["role"], "moderator");
    }

    #[test]
    fn the_chat_session_never_outlives_the_viewer_session() {
        let key = ViewerIdKey::from_secret(&[7; 32]);
        let minutes = |left: u64| {
            let viewer = Session::new("alice", NOW + left);
            grant(&room(json!({})), &viewer, &key, NOW).map(|g| g.session_minutes)
        };
        assert_eq!(minutes(3600).unwrap(), 60);
        assert_eq!(minutes(119).unwrap(), 1, "whole minutes, rounded down");
        assert_eq!(minutes(86_400).unwrap(), MAX_SESSION_MINUTES);
        assert!(matches!(minutes(59), Err(Error::Session(SessionFault::Expired))));
        assert!(matches!(minutes(0), Err(Error::Session(SessionFault::Expired))));
    }
}
