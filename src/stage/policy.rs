//! The policy for stages, beside [`crate::channel::policy`]'s for channels: who may join a stage, who may
//! publish, and which claims a participant token carries. Every way the worker issues a
//! participant token (JSON API, stage page) goes here. Nothing is cached: every token is unique.

use super::claims::{
    attributes_size, participant_id, sign, Capabilities, StageClaims, ATTRIBUTES_MAX_BYTES, USER_ID_MAX_LEN,
};
use super::Stage;
use crate::error::{Error, Result};
use crate::identity::viewer_id::ViewerIdKey;
use crate::identity::Session;
use crate::key::PlaybackKey;
use std::collections::BTreeMap;

/// A participant token issued for one viewer and stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedStageToken {
    /// Stage name.
    pub stage: String,
    /// The signed JWT.
    pub token: String,
    /// The participant id (`jti`).
    pub participant_id: String,
    /// The token's `exp`, Unix seconds.
    pub expires_at: u64,
    /// What the token allows.
    pub capabilities: Capabilities,
}

/// What the stage policy reads from the worker's settings besides the stage table.
#[derive(Debug, Clone, Copy)]
pub struct StageSettings<'c> {
    /// The key participant tokens are signed with: `STAGE_PRIVATE_KEY`, else `PLAYBACK_PRIVATE_KEY`.
    pub key: &'c PlaybackKey,
    /// Key for the default `user_id` (the same derivation as `aws:viewer-id`).
    pub viewer_ids: &'c ViewerIdKey,
    /// `STAGE_TOKEN_TTL_SECONDS`.
    pub token_ttl: u64,
}

fn forbidden(stage: &Stage, reason: impl Into<String>) -> Error {
    Error::StageForbidden { stage: stage.name.clone(), reason: reason.into() }
}

/// Whether `session` may publish on `stage`: a member of one of its `publish_groups`.
pub fn may_publish(stage: &Stage, session: &Session) -> bool {
    stage.publish_groups.as_ref().is_some_and(|groups| session.in_any_group(groups))
}

/// Look up `name` and check that `session` may join it, and publish when `publish` is asked.
pub fn authorize_stage<'c>(
    stages: &'c BTreeMap<String, Stage>,
    session: &Session,
    name: &str,
    publish: bool,
) -> Result<(&'c Stage, Capabilities)> {
    let stage = stages.get(name).ok_or_else(|| Error::UnknownStage(name.to_owned()))?;
    if stage.subscribe_groups.as_ref().is_some_and(|groups| !session.in_any_group(groups)) {
        return Err(forbidden(
            stage,
            "it is open only to members of certain groups, and this account is in none of them",
        ));
    }
    if publish && !may_publish(stage, session) {
        return Err(forbidden(stage, "this account may join but not publish (it is in none of the stage's publish groups); ask without publish=true"));
    }
    Ok((stage, Capabilities { allow_publish: publish, allow_subscribe: true }))
}

/// The claims for `session` joining `stage` with `capabilities` at `now`; `random` makes the
/// participant id.
///
/// - `user_id`: the viewer id (the same keyed hash of source and subject as `aws:viewer-id`:
///   visible to every participant, so never personal data), or the stage's `user_id_claim` when
///   set;
/// - `attributes`: only the claims the stage names, at most 1 KB (refused otherwise);
/// - lifetime: `STAGE_TOKEN_TTL_SECONDS`, at most 14 days.
pub fn stage_claims(
    config: &StageSettings<'_>,
    stage: &Stage,
    session: &Session,
    capabilities: Capabilities,
    now: u64,
    random: [u8; 16],
) -> Result<StageClaims> {
    let mut claims = StageClaims::new(
        &stage.arn,
        &stage.whip_url,
        &stage.events_url,
        &participant_id(random),
        now,
        config.token_ttl,
    );
    claims.capabilities = capabilities;
    claims.user_id = Some(match &stage.user_id_claim {
        None => config.viewer_ids.viewer_id_for(session),
        Some(claim) => session.claim_text(claim)
            .filter(|id| id.chars().count() <= USER_ID_MAX_LEN)
            .ok_or_else(|| forbidden(stage, format!("the stage takes user_id from claim `{claim}`, which this account's credential lacks or holds as more than 128 characters")))?,
    });
    claims.attributes = stage
        .attributes
        .iter()
        .filter_map(|(attribute, claim)| session.claim_text(claim).map(|text| (attribute.clone(), text)))
        .collect::<BTreeMap<_, _>>();
    let size = attributes_size(&claims.attributes);
    if size > ATTRIBUTES_MAX_BYTES {
        return Err(forbidden(
            stage,
            format!(
                "the participant attributes drawn from this account's claims are {size} bytes; IVS allows at most 1 KB"
            ),
        ));
    }
    Ok(claims)
}

/// Sign a fresh participant token for `session` on `stage`.
pub fn issue_stage(
    config: &StageSettings<'_>,
    stage: &Stage,
    session: &Session,
    capabilities: Capabilities,
    now: u64,
    random: [u8; 16],
) -> Result<IssuedStageToken> {
    let claims = stage_claims(config, stage, session, capabilities, now, random)?;
    Ok(IssuedStageToken {
        stage: stage.name.clone(),
        token: sign(&claims, &stage.public_key_arn, config.key),
        participant_id: claims.jti,
        expires_at: claims.exp,
        capabilities,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{names, tests::settings, Config};
    use crate::http::problem::Problem;
    use crate::key::PlaybackKey;
    use crate::stage::claims::verify;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    pub(crate) fn stages_json() -> String {
        json!({
            "open": {"arn": "arn:aws:ivs:us-east-1:123456789012:stage/open0", "public_key_arn": "arn:aws:ivs:us-east-1:123456789012:public-key/k1",
                     "whip_url": "https://open0.global-bm.whip.live-video.net", "publish_groups": ["hosts"],
                     "attributes": {"display_name": "name", "team": "team"}},
            "club": {"arn": "arn:aws:ivs:us-east-1:123456789012:stage/club0", "public_key_arn": "arn:aws:ivs:us-east-1:123456789012:public-key/k1",
                     "whip_url": "https://club0.global-bm.whip.live-video.net", "subscribe_groups": ["members"]},
            "named": {"arn": "arn:aws:ivs:us-east-1:123456789012:stage/named0", "public_key_arn": "arn:aws:ivs:us-east-1:123456789012:public-key/k1",
                      "whip_url": "https://named0.global-bm.whip.live-video.net", "user_id_claim": "handle"},
        })
        .to_string()
    }

    fn config() -> Config {
        Config::load(&settings().with(names::STAGES, stages_json())).unwrap()
    }

    fn viewer(groups: &[&str], claims: serde_json::Value) -> Session {
        let mut s = Session::new("alice@example.com", NOW + 3600);
        s.groups = groups.iter().map(|g| g.to_string()).collect();
        s.claims = claims.as_object().cloned().unwrap_or_default();
        s
    }

    #[test]
    fn subscriber_token_claims() {
        let config = config();
        let s = viewer(&[], json!({"name": "Alice", "team": 7, "email": "alice@example.com"}));
        let (stage, caps) = authorize_stage(&config.stages, &s, "open", false).unwrap();
        let issued = issue_stage(&config.stage_settings(), stage, &s, caps, NOW, [5; 16]).unwrap();
        let verified = verify(&issued.token, &[config.key.public_key()], NOW).unwrap();
        assert_eq!(verified.header["kid"], "arn:aws:ivs:us-east-1:123456789012:public-key/k1");
        let c = &verified.claims;
        assert_eq!(c["jti"], issued.participant_id.as_str());
        assert_eq!(c["user_id"], config.viewer_ids.viewer_id(None, "alice@example.com"));
        assert_eq!(c["capabilities"], json!({"allow_subscribe": true}));
        assert_eq!(c["attributes"], json!({"display_name": "Alice", "team": "7"}), "only the named claims");
        assert_eq!(c["exp"], NOW + 3600);
        assert_eq!(issued.expires_at, NOW + 3600);
        assert!(!issued.token.contains("alice"));
    }

    #[test]
    fn publish_and_group_rules() {
        let config = config();
        let host = viewer(&["hosts"], json!({}));
        let guest = viewer(&["guests"], json!({}));
        let (_, caps) = authorize_stage(&config.stages, &host, "open", true).unwrap();
        assert_eq!(caps.names(), ["SUBSCRIBE", "PUBLISH"]);
        assert_eq!(authorize_stage(&config.stages, &guest, "open", true).unwrap_err().slug(), "stage-forbidden");
        assert!(authorize_stage(&config.stages, &guest, "open", false).is_ok());
        assert_eq!(authorize_stage(&config.stages, &guest, "club", false).unwrap_err().slug(), "stage-forbidden");
        assert!(authorize_stage(&config.stages, &viewer(&["members"], json!({})), "club", false).is_ok());
        assert_eq!(
            authorize_stage(&config.stages, &host, "club", true).unwrap_err().status(),
            403,
            "no publish_groups: nobody publishes"
        );
        assert_eq!(
            authorize_stage(&config.stages, &host, "nope", false).unwrap_err(),
            Error::UnknownStage("nope".into())
        );
    }

    #[test]
    fn tokens_are_never_reused_and_the_stage_key_wins() {
        let stage_key = PlaybackKey::from_scalar_bytes(&[9; 48]).unwrap();
        let config = Config::load(
            &settings().with(names::STAGES, stages_json()).with(names::STAGE_PRIVATE_KEY, stage_key.to_pkcs8_pem()),
        )
        .unwrap();
        let s = viewer(&[], json!({}));
        let (stage, caps) = authorize_stage(&config.stages, &s, "open", false).unwrap();
        let a = issue_stage(&config.stage_settings(), stage, &s, caps, NOW, [1; 16]).unwrap();
        let b = issue_stage(&config.stage_settings(), stage, &s, caps, NOW, [2; 16]).unwrap();
        assert_ne!(a.participant_id, b.participant_id);
        assert!(verify(&a.token, &[stage_key.public_key()], NOW).is_ok());
        assert!(verify(&a.token, &[config.key.public_key()], NOW).is_err());
    }

    #[test]
    fn user_id_claim_and_attribute_limits() {
        let config = config();
        let named = &config.stages["named"];
        let caps = Capabilities { allow_publish: false, allow_subscribe: true };
        let c =
            stage_claims(&config.stage_settings(), named, &viewer(&[], json!({"handle": "ann"})), caps, NOW, [0; 16])
                .unwrap();
        assert_eq!(c.user_id.as_deref(), Some("ann"));
        let err =
            stage_claims(&config.stage_settings(), named, &viewer(&[], json!({})), caps, NOW, [0; 16]).unwrap_err();
        assert!(err.to_string().contains("claim `handle`"));
        let big = viewer(&[], json!({"name": "x".repeat(1100)}));
        let err = stage_claims(&config.stage_settings(), &config.stages["open"], &big, caps, NOW, [0; 16]).unwrap_err();
        assert!(err.to_string().contains("at most 1 KB") && !err.to_string().contains("xxxx"));
    }

    #[test]
    fn stage_settings_errors() {
        for (settings, expected) in [
            (settings().with(names::STAGES, "{"), "setting STAGES: is not valid JSON"),
            (
                settings().with(names::STAGES, r#"{"x": {"arn": "a"}}"#),
                "setting STAGES: stage `x`: `arn` must look like",
            ),
            (settings().with(names::STAGE_PRIVATE_KEY, "garbage-key-value"), "setting STAGE_PRIVATE_KEY:"),
            (
                settings().with(names::STAGE_TOKEN_TTL_SECONDS, "1209601"),
                "setting STAGE_TOKEN_TTL_SECONDS: must be a whole number of seconds from 1 to 1209600",
            ),
            (settings().with(names::STAGE_TOKEN_TTL_SECONDS, "0"), "setting STAGE_TOKEN_TTL_SECONDS"),
        ] {
            let err = Config::load(&settings).unwrap_err().to_string();
            assert!(err.starts_with(expected), "expected {expected:?}, got {err:?}");
            assert!(!err.contains("garbage-key-value"));
        }
        let config = Config::load(&settings().with(names::STAGE_TOKEN_TTL_SECONDS, "1209600")).unwrap();
        assert_eq!((config.stage_token_ttl, config.stages.len()), (1_209_600, 0));
    }
}
