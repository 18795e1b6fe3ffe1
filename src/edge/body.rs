//! Bodies from the runtime read with a hard cap ([`crate::capped`]): the operator's request body
//! and identity providers' answers. A declared length over the limit is refused before anything
//! is read; a body without one is read chunk by chunk and dropped as soon as it passes the limit.

use crate::capped::{declared_too_large, CappedBody, Unread};
use futures_util::StreamExt;
use worker::ByteStream;

/// Read `stream` (an `Err`: no body at all, read as empty) up to `limit` bytes, given the
/// `Content-Length` it declared.
pub(crate) async fn read_capped(
    stream: worker::Result<ByteStream>,
    content_length: Option<String>,
    limit: usize,
) -> Result<Vec<u8>, Unread> {
    declared_too_large(content_length.as_deref(), limit).map_err(Unread::TooLarge)?;
    let Ok(mut stream) = stream else { return Ok(Vec::new()) };
    let mut body = CappedBody::new(limit);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Unread::Broken)?;
        body.push(&chunk).map_err(Unread::TooLarge)?;
    }
    Ok(body.into_bytes())
}

/// A provider's answer as text, capped at `limit` bytes; the reason it could not be had, for the log.
pub(crate) async fn read_text(response: &mut worker::Response, limit: usize, what: &str) -> Result<String, String> {
    let length = response.headers().get("content-length").ok().flatten();
    match read_capped(response.stream(), length, limit).await {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| format!("{what} is not UTF-8 text")),
        Err(Unread::TooLarge(too_large)) => Err(format!("{what} is {too_large}")),
        Err(Unread::Broken) => Err(format!("{what} could not be read")),
    }
}
