//! The sign-in chooser (`GET /login` when several identity providers offer sign-in).

use super::{document, escape_html, Look};

/// A page listing each provider viewers can sign in with: `choices` are (label, link) pairs.
pub fn chooser_page(choices: &[(&str, String)], look: &Look<'_>) -> String {
    let items: String = choices
        .iter()
        .map(|(label, href)| format!("<li><a href=\"{}\">{}</a></li>\n", escape_html(href), escape_html(label)))
        .collect();
    let body =
        format!("<main class=\"message\">\n<h1>Sign in</h1>\n<p>Sign in with:</p>\n<ul>\n{items}</ul>\n</main>\n");
    document("Sign in", look, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooser_escapes_labels_and_links() {
        let html = chooser_page(
            &[("<Staff> & co", "/login?provider=staff&return_to=%2Fwatch%2Fdemo".into())],
            &Look::plain("N"),
        );
        assert!(
            html.contains("<a href=\"/login?provider=staff&amp;return_to=%2Fwatch%2Fdemo\">&lt;Staff&gt; &amp; co</a>")
        );
        assert!(!html.contains("<script"));
    }
}
