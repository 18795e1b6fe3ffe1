//! Pages that only explain something: no session, forbidden, unknown channel, misconfigured.

use super::{document, escape_html};

/// The Content-Security-Policy of a message page (no script at all).
pub fn message_csp(nonce: &str) -> String {
    format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )
}

/// A page that only explains something (no session, forbidden, unknown channel, misconfigured).
pub fn message_page(heading: &str, message: &str, link: Option<(&str, &str)>, nonce: &str) -> String {
    let link = link
        .map(|(href, text)| format!("<p><a href=\"{}\">{}</a></p>\n", escape_html(href), escape_html(text)))
        .unwrap_or_default();
    let body = format!(
        "<main class=\"message\">\n<h1>{}</h1>\n<p>{}</p>\n{link}</main>\n",
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
    }
}
