//! Real-time stages, the product feature for IVS stages: a stage's settings (`STAGES`: its ARN,
//! the imported public key that verifies its participant tokens, its endpoints, who may join or
//! publish), the [`policy`] that decides who joins and which claims a participant gets, and the
//! participant token's [`claims`]. Validated like `CHANNELS`: same name rule, unknown fields
//! refused, errors naming the field and the rule.

pub mod claims;
pub mod policy;

use crate::access::name_list;
use crate::address::{check_endpoint_url, HTTPS, WSS};
use crate::ivs::parse_ivs_arn;
use crate::text::{is_name, truncate};
use serde_json::Value;
use std::collections::BTreeMap;

/// The events endpoint every stage shares unless the stage says otherwise.
pub const DEFAULT_EVENTS_URL: &str = "wss://global.events.live-video.net";

/// One stage the worker signs participant tokens for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The name viewers use (`?stage=NAME`, `/stage/NAME`).
    pub name: String,
    /// Human title for the stage page; defaults to the name.
    pub title: String,
    /// The stage ARN (`resource`); `topic` is its id.
    pub arn: String,
    /// The imported public key's ARN: the token header's `kid`.
    pub public_key_arn: String,
    /// The stage's WHIP endpoint (`whip_url`).
    pub whip_url: String,
    /// The events endpoint (`events_url`).
    pub events_url: String,
    /// Who may join: members of any of these groups; `None` = every signed-in viewer.
    pub subscribe_groups: Option<Vec<String>>,
    /// Who may also publish: members of any of these groups; `None` = nobody.
    pub publish_groups: Option<Vec<String>>,
    /// Participant attributes, by attribute name, from the identity claim named here.
    pub attributes: BTreeMap<String, String>,
    /// The identity claim whose value is `user_id`; `None` = the viewer id (the default).
    pub user_id_claim: Option<String>,
}

const STAGE_FIELDS: &str =
    "arn, public_key_arn, whip_url, events_url, subscribe_groups, publish_groups, title, attributes, user_id_claim";

/// Whether `name` is an attribute or claim name the stage settings accept: `[A-Za-z0-9_.:-]{1,64}`.
fn is_field_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
}

impl Stage {
    /// The stage id: the last part of the ARN, the token's `topic`.
    pub fn topic(&self) -> &str {
        self.arn.rsplit_once('/').map_or("", |(_, id)| id)
    }

    /// Build a stage from its JSON object in `STAGES`. Errors name the field and the rule.
    pub fn from_json(name: &str, value: &Value) -> Result<Self, StageError> {
        if !is_name(name) {
            return Err(StageError::Name(truncate(name)));
        }
        let whole = |rule: String| StageError::Stage { stage: name.to_owned(), rule };
        let field_error = |field: &'static str, rule: String| StageError::Field { stage: name.to_owned(), field, rule };
        let object = value.as_object().ok_or_else(|| whole(format!("must be an object with {STAGE_FIELDS}")))?;
        if let Some(unknown) = object.keys().find(|k| !STAGE_FIELDS.split(", ").any(|f| f == k.as_str())) {
            return Err(whole(format!("has unknown field `{}`; known fields: {STAGE_FIELDS}", truncate(unknown))));
        }
        let string = |field: &'static str| -> Result<Option<String>, StageError> {
            match object.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
                Some(_) => Err(field_error(field, "must be a string".into())),
            }
        };
        let required = |field: &'static str| string(field)?.ok_or_else(|| field_error(field, "is required".into()));

        let arn = required("arn")?;
        let stage_arn = parse_ivs_arn(&arn, "stage").ok_or_else(|| {
            field_error("arn", "must look like arn:aws:ivs:<region>:<12-digit account>:stage/<id>".into())
        })?;
        let public_key_arn = required("public_key_arn")?;
        let key_arn = parse_ivs_arn(&public_key_arn, "public-key").ok_or_else(|| {
            field_error("public_key_arn", "must look like arn:aws:ivs:<region>:<12-digit account>:public-key/<id> (from `aws ivs-realtime import-public-key`)".into())
        })?;
        if key_arn.region != stage_arn.region {
            return Err(field_error(
                "public_key_arn",
                format!(
                    "is in {} but the stage is in {}; public keys are regional: import the key in {} too",
                    key_arn.region, stage_arn.region, stage_arn.region
                ),
            ));
        }
        let whip_url = required("whip_url")?;
        check_endpoint_url(&whip_url, HTTPS).map_err(|e| field_error("whip_url", e.to_string()))?;
        let events_url = string("events_url")?.unwrap_or_else(|| DEFAULT_EVENTS_URL.to_owned());
        check_endpoint_url(&events_url, WSS).map_err(|e| field_error("events_url", e.to_string()))?;

        let title = string("title")?.unwrap_or_else(|| name.to_owned());
        if title.is_empty() || title.chars().count() > 200 || title.chars().any(char::is_control) {
            return Err(field_error("title", "must be 1 to 200 printable characters".into()));
        }
        let groups = |field: &'static str| name_list(object, field).map_err(|rule| field_error(field, rule));
        let attributes = match object.get("attributes") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(attribute, claim)| match claim.as_str() {
                    Some(claim) if is_field_name(attribute) && is_field_name(claim) => Ok((attribute.clone(), claim.to_owned())),
                    _ => Err(field_error(
                        "attributes",
                        "maps attribute names to identity claim names, both [A-Za-z0-9_.:-]{1,64}, e.g. {\"display_name\" = \"name\"}".into(),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(field_error("attributes", "must be a table of attribute name -> claim name".into()))
            }
        };
        let user_id_claim = string("user_id_claim")?;
        if user_id_claim.as_deref().is_some_and(|c| !is_field_name(c)) {
            return Err(field_error("user_id_claim", "must be a claim name, [A-Za-z0-9_.:-]{1,64}".into()));
        }
        Ok(Self {
            name: name.to_owned(),
            title,
            public_key_arn,
            whip_url,
            events_url,
            subscribe_groups: groups("subscribe_groups")?,
            publish_groups: groups("publish_groups")?,
            attributes,
            user_id_claim,
            arn,
        })
    }
}

/// Why a stage's settings were refused, with the field at fault when there is one, so a caller
/// names it in its own terms (the CLI as its flag) without reading the message. `Display` gives
/// the setting's message: "stage `studio`: `arn` must look like ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageError {
    /// The stage's name breaks the name rule (the name, shortened).
    Name(String),
    /// The stage's settings as a whole (not an object, an unknown field).
    Stage {
        /// The stage's name.
        stage: String,
        /// The rule.
        rule: String,
    },
    /// One field breaks its rule.
    Field {
        /// The stage's name.
        stage: String,
        /// The field, as written in `STAGES`.
        field: &'static str,
        /// The rule, without the field's name.
        rule: String,
    },
}

impl std::fmt::Display for StageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Name(name) => write!(f, "stage name `{name}` must match [a-z0-9-]{{1,64}}"),
            Self::Stage { stage, rule } => write!(f, "stage `{stage}` {rule}"),
            Self::Field { stage, field, rule } => write!(f, "stage `{stage}`: `{field}` {rule}"),
        }
    }
}

/// Parse the `STAGES` setting (a JSON object, or a JSON string holding one). Unset: no stages.
pub fn parse_stages(text: Option<&str>) -> Result<BTreeMap<String, Stage>, String> {
    let Some(text) = text else { return Ok(BTreeMap::new()) };
    let value = crate::text::json_setting(text)?;
    let object = value.as_object().ok_or("must be an object mapping stage names to stage settings")?;
    object
        .iter()
        .map(|(name, value)| Ok((name.clone(), Stage::from_json(name, value).map_err(|e| e.to_string())?)))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) const STAGE_ARN: &str = "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf012345";
    pub(crate) const KEY_ARN: &str = "arn:aws:ivs:us-east-1:123456789012:public-key/KeY0123";

    fn base() -> Value {
        json!({"arn": STAGE_ARN, "public_key_arn": KEY_ARN, "whip_url": "https://AbCdEf012345.global-bm.whip.live-video.net"})
    }

    #[test]
    fn stage_from_json() {
        let stage = Stage::from_json("room", &base()).unwrap();
        assert_eq!(stage.topic(), "AbCdEf012345");
        assert_eq!(stage.events_url, DEFAULT_EVENTS_URL);
        assert_eq!(stage.title, "room");
        assert_eq!((stage.subscribe_groups.clone(), stage.publish_groups.clone()), (None, None));
        let mut full = base();
        full["subscribe_groups"] = json!("members, staff");
        full["publish_groups"] = json!(["hosts"]);
        full["attributes"] = json!({"display_name": "name"});
        full["events_url"] = json!("ws://127.0.0.1:9100");
        full["whip_url"] = json!("http://127.0.0.1:9100/whip");
        let stage = Stage::from_json("room", &full).unwrap();
        assert_eq!(stage.subscribe_groups.unwrap(), ["members", "staff"]);
        assert_eq!(stage.attributes["display_name"], "name");
    }

    #[test]
    fn stage_refusals_name_the_field() {
        let with = |k: &str, v: Value| {
            let mut o = base();
            o[k] = v;
            Stage::from_json("room", &o).unwrap_err().to_string()
        };
        let without = |k: &str| {
            let mut o = base();
            o.as_object_mut().unwrap().remove(k);
            Stage::from_json("room", &o).unwrap_err().to_string()
        };
        assert!(with("publish_group", json!(["x"])).contains("unknown field `publish_group`"));
        assert!(without("arn").contains("`arn` is required"));
        assert!(without("public_key_arn").contains("`public_key_arn` is required"));
        assert!(without("whip_url").contains("`whip_url` is required"));
        assert!(with("arn", json!("arn:aws:ivs:us-east-1:123456789012:channel/x")).contains("`arn` must look like"));
        assert!(with("public_key_arn", json!("arn:aws:ivs:us-west-2:123456789012:public-key/k"))
            .contains("public keys are regional"));
        assert!(with("public_key_arn", json!("arn:aws:ivs:us-east-1:123456789012:playback-key/k"))
            .contains("import-public-key"));
        assert!(with("whip_url", json!("http://whip.example")).contains("must start with https://"));
        assert!(with("events_url", json!("https://global.events.live-video.net")).contains("must start with wss://"));
        assert!(with("whip_url", json!("https://a.example/x?y")).contains("no query"));
        assert!(with("subscribe_groups", json!([])).contains("non-empty list"));
        assert!(with("attributes", json!({"display name": "name"})).contains("`attributes` maps"));
        assert!(with("attributes", json!(["name"])).contains("must be a table"));
        assert!(with("title", json!("")).contains("`title`"));
        assert!(Stage::from_json("Room", &base()).unwrap_err().to_string().contains("[a-z0-9-]"));
        // The field at fault is a value, not text to search (issue 23: the CLI maps it to its flag).
        let mut o = base();
        o["whip_url"] = json!("http://whip.example");
        match Stage::from_json("room", &o).unwrap_err() {
            StageError::Field { stage, field, rule } => {
                assert_eq!((stage.as_str(), field), ("room", "whip_url"));
                assert!(rule.contains("must start with https://") && !rule.contains("whip_url"), "{rule}");
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_stages(Some("[]")).unwrap_err().contains("must be an object"));
        assert!(parse_stages(None).unwrap().is_empty());
    }
}
