//! The IVS API calls that stop a viewer's sessions: `StartViewerSessionRevocation` (one channel)
//! and `BatchStartViewerSessionRevocation` (up to 20), as signed HTTP requests, and their answers
//! read back into a [`CallOutcome`] for [`Ledger::revocation_result`](super::ledger::Ledger::revocation_result).
//!
//! ```
//! use ivs_token_worker::aws::Credentials;
//! use ivs_token_worker::device::ledger::{CallOutcome, Pair, RevocationCall};
//! use ivs_token_worker::device::revocation::{read_answer, signed_request};
//! let call = RevocationCall {
//!     region: "us-west-2".into(),
//!     pairs: vec![Pair { channel_arn: "arn:aws:ivs:us-west-2:123456789012:channel/abc".into(),
//!                        viewer_id: "5bdcc146bf60754e6a042426089575c75a003f08".into(), version: 1_800_000_000 }],
//!     ids: vec![0],
//! };
//! let credentials = Credentials::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None);
//! let request = signed_request(&call, &credentials, None, 1_800_000_000);
//! assert_eq!(request.url, "https://ivs.us-west-2.amazonaws.com/StartViewerSessionRevocation");
//! assert_eq!(request.body, r#"{"channelArn":"arn:aws:ivs:us-west-2:123456789012:channel/abc","viewerId":"5bdcc146bf60754e6a042426089575c75a003f08","viewerSessionVersionsLessThanOrEqualTo":1800000000}"#);
//! assert_eq!(read_answer(&call, 200, None, "{}"), CallOutcome::Answered(vec![]));
//! ```

use super::ledger::{CallOutcome, Pair, PairError, RevocationCall};
use crate::aws::call;
pub use crate::aws::call::{error_code, HttpRequest};
use crate::aws::Credentials;
use serde::Serialize;

/// The AWS service name IVS signs with.
pub const SERVICE: &str = "ivs";
/// The path of `StartViewerSessionRevocation`.
pub const SINGLE_PATH: &str = "/StartViewerSessionRevocation";
/// The path of `BatchStartViewerSessionRevocation`.
pub const BATCH_PATH: &str = "/BatchStartViewerSessionRevocation";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ViewerSession<'a> {
    channel_arn: &'a str,
    viewer_id: &'a str,
    viewer_session_versions_less_than_or_equal_to: i64,
}

impl<'a> From<&'a Pair> for ViewerSession<'a> {
    fn from(pair: &'a Pair) -> Self {
        Self {
            channel_arn: &pair.channel_arn,
            viewer_id: &pair.viewer_id,
            viewer_session_versions_less_than_or_equal_to: pair.version,
        }
    }
}

/// The body of `StartViewerSessionRevocation` for one pair.
pub fn single_body(pair: &Pair) -> String {
    serde_json::to_string(&ViewerSession::from(pair)).unwrap_or_default()
}

/// The body of `BatchStartViewerSessionRevocation`: `{"viewerSessions": [...]}`.
pub fn batch_body(pairs: &[Pair]) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Batch<'a> {
        viewer_sessions: Vec<ViewerSession<'a>>,
    }
    serde_json::to_string(&Batch { viewer_sessions: pairs.iter().map(ViewerSession::from).collect() })
        .unwrap_or_default()
}

/// The IVS API endpoint of `region`, or `IVS_API_ENDPOINT` when set (an origin, already
/// validated by the configuration).
pub fn endpoint(region: &str, configured: Option<&str>) -> String {
    call::endpoint("ivs", region, configured)
}

/// The signed request for `call` at `now` (Unix seconds): the single call for one pair, the
/// batch for more, to the region's endpoint (or `IVS_API_ENDPOINT`), signed for service `ivs` in
/// the call's region.
pub fn signed_request(
    call: &RevocationCall,
    credentials: &Credentials,
    configured_endpoint: Option<&str>,
    now: u64,
) -> HttpRequest {
    let (path, body) = if call.is_batch() {
        (BATCH_PATH, batch_body(&call.pairs))
    } else {
        (SINGLE_PATH, call.pairs.first().map(single_body).unwrap_or_default())
    };
    let origin = endpoint(&call.region, configured_endpoint);
    call::signed_post(credentials, SERVICE, &call.region, &origin, path, body, now)
}

/// Read IVS's answer to `call`: its status, its `x-amzn-ErrorType` header and its body. A `200`
/// to a batch lists the pairs that failed on their own under `errors`; a `200` whose body cannot
/// be read is treated like no answer (retried: revocations are idempotent), never as success.
pub fn read_answer(call: &RevocationCall, status: u16, error_type: Option<&str>, body: &str) -> CallOutcome {
    if status == 200 {
        if !call.is_batch() {
            return CallOutcome::Answered(Vec::new());
        }
        return match parse_batch_errors(body) {
            Some(errors) => CallOutcome::Answered(errors),
            None => CallOutcome::Network("IVS answered 200 with a body that is not a batch answer".into()),
        };
    }
    CallOutcome::Status { status, code: error_code(error_type, body) }
}

/// The `errors` of a batch answer; `None` when the body is not one.
pub fn parse_batch_errors(body: &str) -> Option<Vec<PairError>> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let object = value.as_object()?;
    let Some(errors) = object.get("errors") else { return Some(Vec::new()) };
    let text = |item: &serde_json::Value, field: &str| item.get(field).and_then(|v| v.as_str()).map(str::to_owned);
    errors
        .as_array()?
        .iter()
        .map(|item| {
            Some(PairError {
                channel_arn: text(item, "channelArn")?,
                viewer_id: text(item, "viewerId")?,
                code: text(item, "code").unwrap_or_default(),
                message: text(item, "message").unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::sigv4;

    const VIEWER: &str = "5bdcc146bf60754e6a042426089575c75a003f08";

    fn pair(id: &str, version: i64) -> Pair {
        Pair {
            channel_arn: format!("arn:aws:ivs:us-west-2:123456789012:channel/{id}"),
            viewer_id: VIEWER.into(),
            version,
        }
    }

    fn call(pairs: Vec<Pair>) -> RevocationCall {
        RevocationCall { region: "us-west-2".into(), ids: (0..pairs.len() as u64).collect(), pairs }
    }

    #[test]
    fn bodies_are_what_the_api_model_names() {
        let value: serde_json::Value = serde_json::from_str(&batch_body(&[pair("a", 1), pair("b", 2)])).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"viewerSessions": [
                {"channelArn": "arn:aws:ivs:us-west-2:123456789012:channel/a", "viewerId": VIEWER, "viewerSessionVersionsLessThanOrEqualTo": 1},
                {"channelArn": "arn:aws:ivs:us-west-2:123456789012:channel/b", "viewerId": VIEWER, "viewerSessionVersionsLessThanOrEqualTo": 2}
            ]})
        );
    }

    #[test]
    fn single_or_batch_signed_for_the_region_or_the_configured_endpoint() {
        let credentials =
            Credentials::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Some("tok"));
        let batch = signed_request(
            &call(vec![pair("a", 1), pair("b", 2)]),
            &credentials,
            Some("http://127.0.0.1:8788"),
            1_800_000_000,
        );
        assert_eq!(batch.url, "http://127.0.0.1:8788/BatchStartViewerSessionRevocation");
        let header = |name: &str| batch.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
        assert_eq!(header("content-type"), Some("application/json"));
        assert_eq!(header("x-amz-security-token"), Some("tok"));
        assert!(header("authorization").unwrap().starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20270115/us-west-2/ivs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
        ));
        // The host signed is the one the client will send: the endpoint's authority, port included.
        let signed = sigv4::sign_json_post(
            &credentials,
            "us-west-2",
            "ivs",
            "127.0.0.1:8788",
            BATCH_PATH,
            batch.body.as_bytes(),
            1_800_000_000,
        );
        assert_eq!(header("authorization"), Some(signed.signed.authorization.as_str()));
        assert_eq!(endpoint("eu-west-1", None), "https://ivs.eu-west-1.amazonaws.com");
    }

    #[test]
    fn answers() {
        let single = call(vec![pair("a", 1)]);
        let batch = call(vec![pair("a", 1), pair("b", 2)]);
        assert_eq!(read_answer(&single, 200, None, "{}"), CallOutcome::Answered(vec![]));
        assert_eq!(read_answer(&batch, 200, None, r#"{"errors": []}"#), CallOutcome::Answered(vec![]));
        assert_eq!(read_answer(&batch, 200, None, "{}"), CallOutcome::Answered(vec![]));
        let answer = r#"{"errors": [{"channelArn": "arn:aws:ivs:us-west-2:123456789012:channel/b", "viewerId": "5bdcc146bf60754e6a042426089575c75a003f08", "code": "ThrottlingException", "message": "slow down"}]}"#;
        assert_eq!(
            read_answer(&batch, 200, None, answer),
            CallOutcome::Answered(vec![PairError {
                channel_arn: pair("b", 0).channel_arn,
                viewer_id: VIEWER.into(),
                code: "ThrottlingException".into(),
                message: "slow down".into()
            }])
        );
        for garbage in ["", "[]", r#"{"errors": {}}"#, r#"{"errors": [{"code": "x"}]}"#] {
            assert!(matches!(read_answer(&batch, 200, None, garbage), CallOutcome::Network(_)), "{garbage}");
        }
        assert_eq!(
            read_answer(
                &single,
                429,
                Some("ThrottlingException:http://internal.amazon.com/coral/com.amazonaws.ivs/"),
                "{}"
            ),
            CallOutcome::Status { status: 429, code: Some("ThrottlingException".into()) }
        );
        assert_eq!(
            read_answer(&single, 400, None, r#"{"__type": "com.amazonaws.ivs#ValidationException", "message": "m"}"#),
            CallOutcome::Status { status: 400, code: Some("ValidationException".into()) }
        );
        assert_eq!(read_answer(&single, 502, None, "<html>"), CallOutcome::Status { status: 502, code: None });
        assert_eq!(error_code(Some("<script>alert(1)</script>"), ""), None, "nothing odd reaches a log line");
    }
}
