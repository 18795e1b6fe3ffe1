//! The local dev index (`GET /` under `make dev`).

use super::{document, escape_html, Look};

/// The local dev index (`GET /` under `make dev`): a link to each channel's watch page.
/// `channels` are (name, title) pairs.
pub fn index_page(channels: &[(&str, &str)], look: &Look<'_>) -> String {
    let items: String = channels
        .iter()
        .map(|(name, title)| {
            format!(
                "<li><a href=\"/watch/{}\">{}</a> <code>{}</code></li>\n",
                escape_html(name),
                escape_html(title),
                escape_html(name)
            )
        })
        .collect();
    let body = format!(
        "<main class=\"message\">\n<h1>ivs-token-worker (local)</h1>\n<h2>Channels</h2>\n<ul>\n{items}</ul>\n\
         <p>Local sign-in happens on the first visit (<code>/dev/login</code>). The token API: \
         <code>/v1/token?channel=NAME</code>.</p>\n</main>\n"
    );
    document("ivs-token-worker (local)", look, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_page_escapes_titles() {
        let html = index_page(&[("demo", "<b>Demo</b> & co")], &Look::plain("N"));
        assert!(html.contains("<li><a href=\"/watch/demo\">&lt;b&gt;Demo&lt;/b&gt; &amp; co</a>"));
        assert!(!html.contains("<script") && !html.contains("<b>"));
    }
}
