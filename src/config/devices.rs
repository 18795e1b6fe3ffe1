//! The device-limits section: `DEVICE_LIMITS`, the AWS key that revokes at IVS
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), `IVS_API_ENDPOINT` and the
//! operator API's `ADMIN_API_TOKEN`.

use super::aws_key::aws_key;
use super::identity::secret_bytes;
use super::settings::Settings;
use crate::address::service_origin;
use crate::device::admin::AdminToken;
use crate::device::settings::{DeviceLimits, DeviceSettings};
use crate::error::{Error, Result};

/// `DEVICE_LIMITS` and what it needs: the AWS key (a limit whose evictions could not be stopped
/// at IVS would be a promise not kept, so the key is required), `IVS_API_ENDPOINT`,
/// `ADMIN_API_TOKEN`. Without `DEVICE_LIMITS` none of them is read, except that an
/// `ADMIN_API_TOKEN` alone is refused: the operator API works on the device ledger.
pub(super) fn load(settings: &Settings) -> Result<Option<DeviceSettings>> {
    use super::names::*;
    let Some(text) = settings.get(DEVICE_LIMITS) else {
        if settings.get(ADMIN_API_TOKEN).is_some() {
            return Err(Error::setting(
                ADMIN_API_TOKEN,
                "needs DEVICE_LIMITS: the operator API revokes and lists a viewer's devices, which only device limits keep",
            ));
        }
        return Ok(None);
    };
    let limits = DeviceLimits::parse(text).map_err(|e| Error::setting(DEVICE_LIMITS, e))?;
    let credentials = aws_key(
        settings,
        "DEVICE_LIMITS needs {} (an AWS key allowed ivs:StartViewerSessionRevocation and ivs:BatchStartViewerSessionRevocation on the channels) to stop evicted devices at IVS",
    )?;
    let ivs_endpoint = settings
        .get(IVS_API_ENDPOINT)
        .map(service_origin)
        .transpose()
        .map_err(|e| Error::setting(IVS_API_ENDPOINT, e))?;
    let admin_token = secret_bytes(settings, ADMIN_API_TOKEN, false)?.map(|token| AdminToken::new(&token));
    Ok(Some(DeviceSettings { limits, credentials, ivs_endpoint, admin_token }))
}
