//! IVS Chat, the product feature beside playback and stages: a channel's chat room (`chat` in
//! its `CHANNELS` entry), the [`policy`] that decides what a viewer may do in it and what IVS is
//! asked for, and the IVS Chat [`api`] calls (`CreateChatToken`, `DisconnectUser`). Unlike the
//! other two tokens, a chat token is not signed here: IVS Chat issues it, on a request the worker
//! signs with the AWS key it holds for revocations.
//!
//! | module | part |
//! |---|---|
//! | [`policy`] | capabilities, attributes and session length of one viewer's chat token |
//! | [`api`] | the signed IVS Chat requests and their answers |
//! | [`messaging`] | where a watch page's chat client connects, and the CSP source allowing it |
//!
//! ```
//! use ivs_token_worker::chat::Room;
//! let room = Room::from_json(&serde_json::json!({
//!     "room": "arn:aws:ivschat:us-west-2:123456789012:room/g1H2I3j4k5L6",
//!     "moderators": ["staff"],
//!     "display_name_claim": "nickname",
//! })).unwrap();
//! assert_eq!(room.region, "us-west-2");
//! assert_eq!(room.senders, None, "everyone the channel grants may send");
//! let refused = Room::from_json(&serde_json::json!({"room": "arn:aws:ivs:us-west-2:123456789012:channel/a"}));
//! assert!(refused.unwrap_err().contains("`chat.room` must look like arn:aws:ivschat:"));
//! ```

pub mod api;
pub mod messaging;
pub mod policy;

use crate::access::name_list;
use crate::aws::Credentials;
use crate::ivs::parse_arn;
use crate::text::truncate;
use serde_json::Value;

/// What the worker needs to call IVS Chat, loaded when any channel has a room.
#[derive(Debug)]
pub struct ChatSettings {
    /// The AWS key allowed `ivschat:CreateChatToken` and `ivschat:DisconnectUser` on the rooms
    /// (the same key device limits revoke with).
    pub credentials: Credentials,
    /// `IVS_CHAT_API_ENDPOINT`: an origin instead of IVS Chat's regional endpoints (a stand-in).
    pub endpoint: Option<String>,
}

/// A channel's chat room, as its `chat` table configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// The room ARN (`roomIdentifier`).
    pub arn: String,
    /// The room's region: the IVS Chat endpoint and the signing scope.
    pub region: String,
    /// Groups whose members may delete messages and disconnect users (and send).
    pub moderators: Option<Vec<String>>,
    /// Groups whose members may send; `None`: everyone the channel grants.
    pub senders: Option<Vec<String>>,
    /// The identity claim shown to others as the viewer's name; `None`: no name is shown (the
    /// viewer id only), so no subject or e-mail leaks into a public room unless configured.
    pub display_name_claim: Option<String>,
}

/// The fields of a `chat` table.
pub const FIELDS: &str = "room, moderators, senders, display_name_claim";

impl Room {
    /// Read a channel's `chat` table. `Err`: the field and the rule, to be prefixed with the
    /// channel.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let object = value.as_object().ok_or_else(|| format!("`chat` must be a table with {FIELDS}"))?;
        if let Some(unknown) = object.keys().find(|k| !FIELDS.split(", ").any(|f| f == k.as_str())) {
            return Err(format!("`chat` has unknown field `{}`; known fields: {FIELDS}", truncate(unknown)));
        }
        let arn = match object.get("room") {
            Some(Value::String(arn)) => arn.trim().to_owned(),
            None | Some(Value::Null) => return Err("`chat.room` is required: the chat room's ARN".into()),
            Some(_) => return Err("`chat.room` must be a string".into()),
        };
        let region = parse_arn(&arn, "ivschat", "room")
            .ok_or_else(|| {
                "`chat.room` must look like arn:aws:ivschat:<region>:<12-digit account>:room/<id> (from `aws ivschat create-room`)"
                    .to_owned()
            })?
            .region
            .to_owned();
        let groups = |field: &str| name_list(object, field).map_err(|rule| format!("`chat.{field}` {rule}"));
        let display_name_claim = match object.get("display_name_claim") {
            None | Some(Value::Null) => None,
            Some(Value::String(claim)) if is_claim_name(claim) => Some(claim.clone()),
            Some(_) => {
                return Err("`chat.display_name_claim` must be an identity claim name, [A-Za-z0-9_.:-]{1,64}".into())
            }
        };
        Ok(Self { arn, region, moderators: groups("moderators")?, senders: groups("senders")?, display_name_claim })
    }
}

/// Whether `name` may name an identity claim: `[A-Za-z0-9_.:-]{1,64}`.
fn is_claim_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROOM: &str = "arn:aws:ivschat:eu-west-1:123456789012:room/AbC123";

    #[test]
    fn a_room_reads_its_fields() {
        let room =
            Room::from_json(&json!({"room": ROOM, "moderators": "staff, mods", "senders": ["members"]})).unwrap();
        assert_eq!(room.arn, ROOM);
        assert_eq!(room.region, "eu-west-1");
        assert_eq!(room.moderators, Some(vec!["staff".to_owned(), "mods".to_owned()]));
        assert_eq!(room.senders, Some(vec!["members".to_owned()]));
        assert_eq!(room.display_name_claim, None);
    }

    #[test]
    fn every_broken_rule_names_its_field() {
        for (value, expected) in [
            (json!("arn"), "`chat` must be a table"),
            (json!({}), "`chat.room` is required"),
            (json!({"room": 5}), "`chat.room` must be a string"),
            (json!({"room": "arn:aws:ivschat:eu-west-1:123456789012:channel/a"}), "`chat.room` must look like"),
            (json!({"room": "arn:aws:ivs:eu-west-1:123456789012:room/a"}), "`chat.room` must look like"),
            (json!({"room": "arn:aws:ivschat:eu-west-1:12345678901:room/a"}), "`chat.room` must look like"),
            (
                json!({"room": format!("arn:aws:ivschat:eu-west-1:123456789012:room/{}", "a".repeat(100))}),
                "must look like",
            ),
            (json!({"room": ROOM, "moderator": ["staff"]}), "unknown field `moderator`; known fields: room,"),
            (json!({"room": ROOM, "moderators": []}), "`chat.moderators` must be a non-empty list"),
            (json!({"room": ROOM, "senders": 3}), "`chat.senders` must be"),
            (json!({"room": ROOM, "display_name_claim": "na me"}), "`chat.display_name_claim` must be"),
            (json!({"room": ROOM, "display_name_claim": ""}), "`chat.display_name_claim` must be"),
        ] {
            let error = Room::from_json(&value).unwrap_err();
            assert!(error.contains(expected), "{value}: {error}");
        }
    }
}
