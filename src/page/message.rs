//! Pages that only explain something: no session, forbidden, unknown channel, misconfigured.

use super::{document, escape_html};

/// The Content-Security-Policy of a message page (no script at all).
pub fn message_csp(nonce: &str) -> String {
    format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )
}

/// The Content-Security-Policy of a message page whose button posts a form to this worker.
pub fn message_form_csp(nonce: &str) -> String {
    format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    )
}

/// A page that only explains something (no session, forbidden, unknown channel, misconfigured).
pub fn message_page(heading: &str, message: &str, link: Option<(&str, &str)>, nonce: &str) -> String {
    let link = link
        .map(|(href, text)| format!("<p><a href=\"{}\">{}</a></p>\n", escape_html(href), escape_html(text)))
        .unwrap_or_default();
    message_document(heading, message, &link, nonce)
}

/// A message page whose action changes something at this worker: a button that POSTs to
/// `action` (a link would let any site make the change with a plain GET). Served with
/// [`message_form_csp`].
pub fn message_form_page(heading: &str, message: &str, (action, label): (&str, &str), nonce: &str) -> String {
    let form = format!(
        "<form method=\"post\" action=\"{}\"><button type=\"submit\">{}</button></form>\n",
        escape_html(action),
        escape_html(label)
    );
    message_document(heading, message, &form, nonce)
}

fn message_document(heading: &str, message: &str, action: &str, nonce: &str) -> String {
    let body = format!(
        "<main class=\"message\">\n<h1>{}</h1>\n<p>{}</p>\n{action}</main>\n",
        escape_html(heading),
        escape_html(message)
    );
    document(heading, nonce, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_pages_escape() {
        let html = message_page("No <session>", "Sign in & retry", Some(("/login?a=1&b=\"2\"", "Sign in")), "N");
        assert!(html.contains("<h1>No &lt;session&gt;</h1>"));
        assert!(html.contains("href=\"/login?a=1&amp;b=&quot;2&quot;\""));
        assert!(!html.contains("<script"));
        let form =
            message_form_page("At the limit", "Stop <one>", ("/watch/demo?takeover=true&x=\"", "Watch here"), "N");
        assert!(form.contains("<form method=\"post\" action=\"/watch/demo?takeover=true&amp;x=&quot;\"><button type=\"submit\">Watch here</button></form>"));
        assert!(form.contains("<p>Stop &lt;one&gt;</p>") && !form.contains("<a "));
        assert!(
            message_form_csp("N").contains("form-action 'self'") && message_csp("N").contains("form-action 'none'")
        );
    }
}
