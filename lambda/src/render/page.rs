//! The preview page: the live widget, header and card, with the snippets for this
//! deployment's own URL.

use super::{escape, widget_version};

/// `GET /`: the live widget and card, and the two snippets for this deployment's own URL;
/// with `suggest`, the widget offers "Suggest a song".
pub fn preview_page(base: &str, suggest: bool) -> String {
    let version = widget_version();
    let base = escape(base);
    let suggest = if suggest { " suggest" } else { "" };
    let html_snippet = escape(&format!(
        "<script type=\"module\" src=\"{base}/v1/widget.js?v={version}\"></script>\n<now-playing src=\"{base}/v1/current\"{suggest}></now-playing>"
    ));
    let markdown_snippet = escape(&format!("[![Now playing on Spotify]({base}/v1/current.svg)]({base}/v1/open)"));
    let header_snippet = escape(&format!(
        "<script type=\"module\" src=\"{base}/v1/widget.js?v={version}\"></script>\n<now-playing-header src=\"{base}/v1/current\" page-colors></now-playing-header>"
    ));
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>now-playing</title><link rel="icon" href="data:,"><script type="module" src="{base}/v1/widget.js?v={version}"></script>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#191414}}pre{{background:#f4f4f4;padding:1rem;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere}}img{{max-width:100%;height:auto}}h2{{margin-top:2rem}}@media (prefers-color-scheme:dark){{body{{background:#121212;color:#eee}}pre{{background:#222}}}}</style></head>
<body><h1>now-playing</h1><p>What this endpoint's owner is listening to on Spotify, live.</p>
<h2>The widget</h2><now-playing src="{base}/v1/current"{suggest}></now-playing>
<p>Paste into any page:</p><pre><code>{html_snippet}</code></pre>
<h2>The header</h2><now-playing-header src="{base}/v1/current"></now-playing-header>
<p>A band the width of the page, in the colours of the art; <code>page-colors</code> also puts them on the page as <code>--np-background</code>, <code>--np-foreground</code> and <code>--np-accent</code>:</p><pre><code>{header_snippet}</code></pre>
<h2>The card</h2><p><a href="{base}/v1/open"><img src="{base}/v1/current.svg" width="400" height="120" alt="Now playing on Spotify"></a></p>
<p>Paste into a README (GitHub's image proxy fetches it; <code>?theme=dark</code> for dark):</p><pre><code>{markdown_snippet}</code></pre>
<h2>The data</h2><p><a href="{base}/v1/current">{base}/v1/current</a> · <a href="{base}/v1/recent">recently played</a> · <a href="{base}/v1/health">health</a></p></body></html>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_its_base_url() {
        let page = preview_page("https://np.example.com/\"><script>", false);
        assert!(!page.contains("\"><script>"));
    }

    #[test]
    fn the_page_offers_suggestions_only_when_they_are_open() {
        let base = "https://np.example.com";
        let open = preview_page(base, true);
        assert!(open.contains(&format!("<now-playing src=\"{base}/v1/current\" suggest>")), "the live widget");
        assert!(
            open.contains("&lt;now-playing src=&quot;https://np.example.com/v1/current&quot; suggest&gt;"),
            "the snippet"
        );
        assert!(!preview_page(base, false).contains("suggest"));
    }
}
