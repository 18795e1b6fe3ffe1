//! `ivs-token revocation-request`: a SigV4-signed IVS revocation request, printed, never sent.

use super::{aws_credentials, now, request_json, unusable, Failure};
use ivs_token_worker::ivs::VIEWER_ID_MAX_LEN;

/// The arguments of `ivs-token revocation-request`.
#[derive(clap::Args)]
pub struct RevocationRequestArgs {
    /// The channel ARN (repeat for a BatchStartViewerSessionRevocation of up to 20, one region).
    #[arg(long = "channel-arn", value_name = "ARN", required = true)]
    pub channel_arns: Vec<String>,
    /// The aws:viewer-id to revoke (1 to 40 characters; see `viewer-id`).
    #[arg(long, value_name = "ID")]
    pub viewer_id: String,
    /// Revoke every session of the viewer whose aws:viewer-session-version is at most N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..=2_147_483_647))]
    pub version: i64,
    /// The IVS API origin instead of https://ivs.<region>.amazonaws.com (http only for localhost).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Sign as of this time (Unix seconds) instead of now.
    #[arg(long, value_name = "UNIX")]
    pub time: Option<u64>,
}

/// Print the signed request.
pub fn revocation_request(args: RevocationRequestArgs) -> Result<(), Failure> {
    let RevocationRequestArgs { channel_arns, viewer_id, version, endpoint, time } = args;
    signed_revocation(&channel_arns, &viewer_id, version, endpoint.as_deref(), time.unwrap_or_else(now))
}

fn signed_revocation(
    channel_arns: &[String],
    viewer_id: &str,
    version: i64,
    endpoint: Option<&str>,
    time: u64,
) -> Result<(), Failure> {
    use ivs_token_worker::device::ledger::{Pair, RevocationCall, MAX_BATCH};
    use ivs_token_worker::device::revocation::signed_request;
    use ivs_token_worker::ivs::parse_ivs_arn;
    let mut region = None;
    for arn in channel_arns {
        let parsed = parse_ivs_arn(arn, "channel").ok_or_else(|| {
            unusable(format!(
                "--channel-arn {arn}: must look like arn:aws:ivs:<region>:<12-digit account>:channel/<id>"
            ))
        })?;
        if region.is_some_and(|r| r != parsed.region) {
            return Err(unusable("--channel-arn: every channel of one call must be in the same region"));
        }
        region = Some(parsed.region);
    }
    if channel_arns.len() > MAX_BATCH {
        return Err(unusable(format!("--channel-arn: at most {MAX_BATCH} channels in one call")));
    }
    if !(1..=VIEWER_ID_MAX_LEN).contains(&viewer_id.chars().count()) {
        return Err(unusable(format!("--viewer-id must be 1 to {VIEWER_ID_MAX_LEN} characters (IVS limit)")));
    }
    let endpoint = endpoint
        .map(ivs_token_worker::address::service_origin)
        .transpose()
        .map_err(|e| unusable(format!("--endpoint: {e}")))?;
    let credentials = aws_credentials()?;
    let call = RevocationCall {
        region: region.unwrap_or_default().to_owned(),
        pairs: channel_arns
            .iter()
            .map(|arn| Pair { channel_arn: arn.clone(), viewer_id: viewer_id.to_owned(), version })
            .collect(),
        ids: Vec::new(),
    };
    let request = signed_request(&call, &credentials, endpoint.as_deref(), time);
    println!("{}", serde_json::to_string_pretty(&request_json(&request)).unwrap_or_default());
    Ok(())
}
