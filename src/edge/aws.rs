//! Sending a signed AWS request (IVS revocations, IVS Chat) with the runtime's `fetch`, with a
//! timeout, and handing back what came of it for the core to read.

use crate::aws::call::HttpRequest;
use worker::{Fetch, Headers, Method, Request, RequestInit};

/// What came of a request: AWS's status, `x-amzn-ErrorType` and body, or why there was none.
pub(crate) enum Sent {
    /// AWS answered.
    Answered {
        /// The HTTP status.
        status: u16,
        /// `x-amzn-ErrorType`.
        error_type: Option<String>,
        /// The body.
        body: String,
    },
    /// No answer (the reason, for the log: never a header or the body sent).
    Failed(String),
}

/// Send `signed`; give up after `timeout_ms`.
pub(crate) async fn send(signed: &HttpRequest, timeout_ms: u32) -> Sent {
    let headers = Headers::new();
    for (name, value) in &signed.headers {
        if headers.set(name, value).is_err() {
            return Sent::Failed(format!("header {name} could not be set"));
        }
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(signed.body.as_str().into()));
    let request = match Request::new_with_init(&signed.url, &init) {
        Ok(request) => request,
        Err(_) => return Sent::Failed("the endpoint URL is not usable".into()),
    };
    let timeout = worker::AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(timeout_ms));
    match Fetch::Request(request).send_with_signal(&timeout).await {
        Ok(mut response) => Sent::Answered {
            status: response.status_code(),
            error_type: response.headers().get("x-amzn-errortype").ok().flatten(),
            body: response.text().await.unwrap_or_default(),
        },
        Err(error) => Sent::Failed(error.to_string()),
    }
}
