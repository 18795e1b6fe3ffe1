//! Pages that only explain something: no session, forbidden, unknown channel, misconfigured.

use super::{document, escape_html, Look};

/// The Content-Security-Policy of a message page (no script at all).
pub fn message_csp(look: &Look<'_>) -> String {
    csp(look, "'none'")
}

/// The Content-Security-Policy of a message page whose button posts a form to this worker.
pub fn message_form_csp(look: &Look<'_>) -> String {
    csp(look, "'self'")
}

/// No source but the nonce'd style, and the brand's logo and stylesheet when it has them.
fn csp(look: &Look<'_>, form_action: &str) -> String {
    // With a logo the page has an `img-src`, which also governs the `data:,` icon every page
    // names (so that browsers ask for no /favicon.ico): allowed, as on the watch page.
    let logo = look.logo_source("data:");
    let images = if logo.is_empty() { String::new() } else { format!(" img-src data:{logo};") };
    let style = format!("'nonce-{}'", look.nonce);
    let stylesheet = look.stylesheet_source(&style);
    format!(
        "default-src 'none'; style-src {style}{stylesheet};{images} base-uri 'none'; form-action {form_action}; frame-ancestors 'self'"
    )
}

/// A page that only explains something (no session, forbidden, unknown channel, misconfigured).
pub fn message_page(heading: &str, message: &str, link: Option<(&str, &str)>, look: &Look<'_>) -> String {
    let link = link
        .map(|(href, text)| format!("<p><a href=\"{}\">{}</a></p>\n", escape_html(href), escape_html(text)))
        .unwrap_or_default();
    message_document(heading, message, &link, look)
}

/// A message page whose action changes something at this worker: a button that POSTs to
/// `action` (a link would let any site make the change with a plain GET). Served with
/// [`message_form_csp`].
pub fn message_form_page(heading: &str, message: &str, (action, label): (&str, &str), look: &Look<'_>) -> String {
    let form = format!(
        "<form method=\"post\" action=\"{}\"><button type=\"submit\">{}</button></form>\n",
        escape_html(action),
        escape_html(label)
    );
    message_document(heading, message, &form, look)
}

fn message_document(heading: &str, message: &str, action: &str, look: &Look<'_>) -> String {
    let body = format!(
        "<main class=\"message\">\n<h1>{}</h1>\n<p>{}</p>\n{action}</main>\n",
        escape_html(heading),
        escape_html(message)
    );
    document(heading, look, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_pages_escape() {
        let n = &Look::plain("N");
        let html = message_page("No <session>", "Sign in & retry", Some(("/login?a=1&b=\"2\"", "Sign in")), n);
        assert!(html.contains("<h1>No &lt;session&gt;</h1>"));
        assert!(html.contains("href=\"/login?a=1&amp;b=&quot;2&quot;\""));
        assert!(!html.contains("<script"));
        let form = message_form_page("At the limit", "Stop <one>", ("/watch/demo?takeover=true&x=\"", "Watch here"), n);
        assert!(form.contains("<form method=\"post\" action=\"/watch/demo?takeover=true&amp;x=&quot;\"><button type=\"submit\">Watch here</button></form>"));
        assert!(form.contains("<p>Stop &lt;one&gt;</p>") && !form.contains("<a "));
        assert!(message_form_csp(n).contains("form-action 'self'") && message_csp(n).contains("form-action 'none'"));
    }

    #[test]
    fn message_csp_is_unchanged_without_a_brand_and_names_exactly_its_origins_with_one() {
        let n = &Look::plain("N");
        assert_eq!(
            message_csp(n),
            "default-src 'none'; style-src 'nonce-N'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
        );
        assert_eq!(
            message_form_csp(n),
            "default-src 'none'; style-src 'nonce-N'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
        );
        let full = super::super::tests::brand(
            serde_json::json!({"title": "Club", "logo_url": "https://img.example:8443/l.png",
            "stylesheet_url": "https://CSS.example/b.css", "colors": {"accent": "#fff"}}),
        );
        assert_eq!(
            message_csp(&Look::new("N", Some(&full))),
            "default-src 'none'; style-src 'nonce-N' https://css.example; img-src data: https://img.example:8443; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
        );
        let local = super::super::tests::brand(serde_json::json!({"title": "Club", "logo_url": "/brand/logo.svg"}));
        assert_eq!(
            message_form_csp(&Look::new("N", Some(&local))),
            "default-src 'none'; style-src 'nonce-N'; img-src data: 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
        );
        let colours = super::super::tests::brand(serde_json::json!({"title": "Club", "colors": {"text": "#000"}}));
        assert_eq!(message_csp(&Look::new("N", Some(&colours))), message_csp(n), "colours need no source");
        let page = message_page("Sign in to watch", "x", None, &Look::new("N", Some(&full)));
        assert!(page.contains("<img class=\"brand-logo\" src=\"https://img.example:8443/l.png\" alt=\"Club\">"));
    }
}
