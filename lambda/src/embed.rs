//! What the function shows: the widget script, the SVG card for READMEs and the preview page.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;

use crate::domain::{Art, ItemKind, NowPlaying, Palette, Status};

/// The `<now-playing>` custom element, served as `/v1/widget.js`.
pub const WIDGET_JS: &str = include_str!("../assets/widget.js");

/// Its "Suggest a song" dialog, served as `/v1/widget-suggest.js`; the widget imports it with
/// its own `?v=` only when the `suggest` attribute is present.
pub const SUGGEST_JS: &str = include_str!("../assets/widget-suggest.js");

/// Changes whenever the widget or its dialog does; `?v=VERSION` may be cached for a year.
pub fn widget_version() -> String {
    let both = [WIDGET_JS.as_bytes(), SUGGEST_JS.as_bytes()].concat();
    format!("{:08x}", crate::fingerprint::fnv1a(&both) as u32)
}

/// The card's colours: `Art` (the default) takes them from the album art's palette, as
/// Spotify recommends for a playing view, and is `Light` without one; `?theme=light` and
/// `?theme=dark` pin a theme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    Art,
    Light,
    Dark,
}

impl Theme {
    pub fn from_query(value: Option<&str>) -> Theme {
        match value {
            Some("dark") => Theme::Dark,
            Some("light") => Theme::Light,
            _ => Theme::Art,
        }
    }
}

/// What the card is drawn in.
struct Colours {
    bg: String,
    fg: String,
    muted: String,
    track: String,
    accent: String,
    /// Spotify's icon: green on the themes' white and black, and in white or black on a
    /// colour, as Spotify's brand guidelines ask.
    icon: String,
}

impl Colours {
    fn of(theme: Theme, palette: Option<&Palette>) -> Colours {
        let fixed = |[bg, fg, muted, track]: [&str; 4]| Colours {
            bg: bg.into(),
            fg: fg.into(),
            muted: muted.into(),
            track: track.into(),
            accent: "#1db954".into(),
            icon: "#1ED760".into(),
        };
        match (theme, palette) {
            // The palette's foreground is the only colour it guarantees readable: the
            // secondary text uses it too, and the bar's track is a blend of the two.
            (Theme::Art, Some(p)) => Colours {
                bg: p.background.to_string(),
                fg: p.foreground.to_string(),
                muted: p.foreground.to_string(),
                track: p.background.mix(p.foreground, 0.3).to_string(),
                accent: p.accent.to_string(),
                icon: p.background.monochrome().to_string(),
            },
            (Theme::Dark, _) => fixed(["#181818", "#ffffff", "#b3b3b3", "#3e3e3e"]),
            (Theme::Art | Theme::Light, _) => fixed(["#ffffff", "#191414", "#5f6368", "#e4e6e8"]),
        }
    }
}

/// Whether XML 1.0 allows `c` at all (its `Char` production).
fn xml_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Escapes text for XML and HTML content and attribute values; a character XML 1.0 does
/// not allow (C0 controls, U+FFFE, U+FFFF) becomes U+FFFD, so the card always parses.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if !xml_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters, with an ellipsis when cut: SVG text does not wrap or clip.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

fn ago(then: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (now - then).whole_seconds().max(0);
    let (n, unit) = match seconds {
        s if s < 90 => return "just now".into(),
        s if s < 5400 => ((s + 30) / 60, "minute"),
        s if s < 129_600 => ((s + 1800) / 3600, "hour"),
        s => ((s + 43_200) / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// The status line a person reads: "Now playing", "Last played 12 minutes ago", …
pub fn status_line(doc: Option<&NowPlaying>, now: OffsetDateTime) -> String {
    let Some(doc) = doc else { return "Spotify".into() };
    let line = match (doc.status, doc.played_at) {
        (Status::Playing, _) => "Now playing".to_owned(),
        (Status::Paused, _) => "Paused".to_owned(),
        (Status::LastPlayed, Some(at)) => format!("Last played {}", ago(at, now)),
        (Status::LastPlayed, None) => "Last played".to_owned(),
        (Status::Offline, _) => "Offline".to_owned(),
    };
    if doc.stale { format!("{line} · may be out of date") } else { line }
}

/// Spotify's icon (simple-icons, CC0) as one SVG path in a 24×24 box: the card shows it at
/// the guidelines' minimum of 21 px, as the brand that accompanies Spotify's data.
const SPOTIFY_ICON_PATH: &str = "M12 0C5.4 0 0 5.4 0 12s5.4 12 12 12 12-5.4 12-12S18.66 0 12 0zm5.521 17.34c-.24.359-.66.48-1.021.24-2.82-1.74-6.36-2.101-10.561-1.141-.418.122-.779-.179-.899-.539-.12-.421.18-.78.54-.9 4.56-1.021 8.52-.6 11.64 1.32.42.18.479.659.301 1.02zm1.44-3.3c-.301.42-.841.6-1.262.3-3.239-1.98-8.159-2.58-11.939-1.38-.479.12-1.02-.12-1.14-.6-.12-.48.12-1.021.6-1.141C9.6 9.9 15 10.561 18.72 12.84c.361.181.54.78.241 1.2zm.12-3.36C15.24 8.4 8.82 8.16 5.16 9.301c-.6.179-1.2-.181-1.38-.721-.18-.601.18-1.2.72-1.381 4.26-1.26 11.28-1.02 15.721 1.621.539.3.719 1.02.419 1.56-.299.421-1.02.599-1.559.3z";

/// A 400×120 card: art (uncropped, corners of 4 px), status, title, artists or show,
/// progress, and Spotify's icon, in the art's colours or a theme's.
pub fn svg_card(doc: Option<&NowPlaying>, art: Option<&Art>, theme: Theme, now: OffsetDateTime) -> String {
    let item = doc.and_then(|d| d.item.as_ref());
    let Colours { bg, fg, muted, track, accent, icon } = Colours::of(theme, item.and_then(|i| i.palette.as_ref()));
    let title = item.map_or_else(|| "Nothing playing".to_owned(), |i| i.name.clone());
    let by = item.map_or_else(String::new, |i| {
        let artists = i.artists.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ");
        match i.kind {
            ItemKind::Episode => artists,
            ItemKind::Track if i.album.name.is_empty() => artists,
            ItemKind::Track => format!("{artists} · {}", i.album.name),
        }
    });
    let status = status_line(doc, now);
    let playing = doc.is_some_and(|d| d.status == Status::Playing);
    let progress = doc.zip(item).and_then(|(d, i)| {
        let at = d.progress_ms? + if playing { (now - d.fetched_at).whole_milliseconds().max(0) as u64 } else { 0 };
        (i.duration_ms > 0).then(|| (at.min(i.duration_ms) as f64 / i.duration_ms as f64 * 264.0).round())
    });
    let picture = match art {
        Some(art) => format!(
            r#"<image x="16" y="16" width="88" height="88" clip-path="url(#r)" preserveAspectRatio="xMidYMid meet" href="data:{};base64,{}"/>"#,
            escape(&art.content_type),
            STANDARD.encode(&art.bytes)
        ),
        None => format!(
            r#"<rect x="16" y="16" width="88" height="88" rx="4" fill="{track}"/><path d="M48 44v26a7 7 0 1 1-4-6.3V48l20-5v21a7 7 0 1 1-4-6.3V47z" fill="{muted}"/>"#
        ),
    };
    let bar = progress.map_or_else(String::new, |width| {
        format!(r##"<rect x="120" y="96" width="264" height="4" rx="2" fill="{track}"/><rect x="120" y="96" width="{width}" height="4" rx="2" fill="{accent}"/>"##)
    });
    let dot = if playing { &accent } else { &muted };
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="120" viewBox="0 0 400 120" role="img" aria-label="{label}"><title>{label}</title><defs><clipPath id="r"><rect x="16" y="16" width="88" height="88" rx="4"/></clipPath></defs><rect width="400" height="120" rx="12" fill="{bg}"/>{picture}<circle cx="124" cy="31" r="4" fill="{dot}"/><text x="134" y="35" font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif" font-size="12" fill="{muted}">{status}</text><text x="120" y="60" font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif" font-size="16" font-weight="600" fill="{fg}">{title}</text><text x="120" y="82" font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif" font-size="13" fill="{muted}">{by}</text>{bar}<path transform="translate(363 16) scale(0.875)" fill="{icon}" d="{icon_path}"><title>Spotify</title></path></svg>"##,
        icon_path = SPOTIFY_ICON_PATH,
        label = escape(&format!("{status}: {title}")),
        // Short of the icon in the top right corner.
        status = escape(&fit(&status, 34)),
        // What fits in the 264 px beside the art at each font size.
        title = escape(&fit(&title, 27)),
        by = escape(&fit(&by, 36)),
    )
}

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
<title>now-playing</title><script type="module" src="{base}/v1/widget.js?v={version}"></script>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#191414}}pre{{background:#f4f4f4;padding:1rem;overflow:auto;white-space:pre-wrap}}h2{{margin-top:2rem}}@media (prefers-color-scheme:dark){{body{{background:#121212;color:#eee}}pre{{background:#222}}}}</style></head>
<body><h1>now-playing</h1><p>What this endpoint's owner is listening to on Spotify, live.</p>
<h2>The widget</h2><now-playing src="{base}/v1/current"{suggest}></now-playing>
<p>Paste into any page:</p><pre><code>{html_snippet}</code></pre>
<h2>The header</h2><now-playing-header src="{base}/v1/current"></now-playing-header>
<p>A band the width of the page, in the colours of the art; <code>page-colors</code> also puts them on the page as <code>--np-background</code>, <code>--np-foreground</code> and <code>--np-accent</code>:</p><pre><code>{header_snippet}</code></pre>
<h2>The card</h2><p><a href="{base}/v1/open"><img src="{base}/v1/current.svg" width="400" height="120" alt="Now playing on Spotify"></a></p>
<p>Paste into a README (GitHub's image proxy fetches it; <code>?theme=dark</code> for dark):</p><pre><code>{markdown_snippet}</code></pre>
<h2>The data</h2><p><a href="{base}/v1/current">{base}/v1/current</a> · <a href="{base}/v1/health">health</a></p></body></html>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Item, Link, Playback};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-27 20:00:00 UTC);

    fn doc(name: &str, status_playing: bool) -> NowPlaying {
        let item = Item {
            kind: ItemKind::Track,
            id: None,
            name: name.into(),
            url: None,
            artists: vec![Link { name: "A & B".into(), url: None }],
            album: Link { name: "<Album>".into(), url: None },
            images: vec![],
            duration_ms: 200_000,
            explicit: false,
            is_local: true,
            palette: None,
        };
        NowPlaying::from_spotify(
            Playback::Item { item, is_playing: status_playing, progress_ms: Some(100_000) },
            None,
            None,
            NOW,
        )
    }

    #[test]
    fn hostile_text_is_escaped_in_the_card() {
        let svg = svg_card(Some(&doc("</text><script>alert(1)</script>", true)), None, Theme::Light, NOW);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;/text&gt;&lt;script&gt;"));
        assert!(svg.contains("A &amp; B · &lt;Album&gt;"));
    }

    #[test]
    fn the_card_shows_art_uncropped_with_small_corners_and_credits_spotify() {
        let art = Art::new("image/png".into(), vec![1, 2, 3]);
        for (doc, art) in [(Some(doc("Song", true)), Some(&art)), (Some(doc("Local", true)), None), (None, None)] {
            let svg = svg_card(doc.as_ref(), art, Theme::Dark, NOW);
            assert!(!svg.contains("slice"), "never cropped: {svg}");
            assert!(!svg.contains("rx=\"8\"") && svg.contains("rx=\"4\""), "corners of 4 px: {svg}");
            assert!(svg.contains(SPOTIFY_ICON_PATH) && svg.contains("<title>Spotify</title>"), "the icon, always");
            assert!(!svg.contains("filter") && !svg.contains("opacity"), "nothing over the art");
        }
        let svg = svg_card(Some(&doc("Song", true)), Some(&art), Theme::Light, NOW);
        assert!(svg.contains(r#"preserveAspectRatio="xMidYMid meet" href="data:image/png;base64,AQID""#), "{svg}");
    }

    #[test]
    fn the_card_takes_the_arts_colours_unless_a_theme_is_asked() {
        use crate::domain::Rgb;
        let palette = Palette {
            background: Rgb(0x1b, 0x2a, 0x49),
            foreground: Rgb(0xbb, 0xbf, 0xc8),
            accent: Rgb(0xf2, 0x6b, 0x5b),
        };
        let mut d = doc("Song", true);
        d.item.as_mut().unwrap().palette = Some(palette);
        let svg = svg_card(Some(&d), None, Theme::Art, NOW);
        assert!(svg.contains(r##"rx="12" fill="#1b2a49""##), "the art's background: {svg}");
        assert!(svg.contains(r##"font-weight="600" fill="#bbbfc8""##), "its foreground for the title");
        assert!(svg.contains(r##"height="4" rx="2" fill="#f26b5b""##), "its accent for the progress");
        assert!(svg.contains(r##"fill="#ffffff" d="M12 0"##), "Spotify's icon in white on a dark colour");
        assert!(!svg.contains("#5f6368"), "no theme colour left");
        let pinned = svg_card(Some(&d), None, Theme::Dark, NOW);
        assert!(pinned.contains(r##"rx="12" fill="#181818""##) && pinned.contains(r##"fill="#1ED760" d="M12 0"##));
        // Without a palette the default is the light theme.
        let plain = svg_card(Some(&doc("Song", true)), None, Theme::Art, NOW);
        assert!(plain.contains(r##"rx="12" fill="#ffffff""##));
        assert_eq!(Theme::from_query(Some("light")), Theme::Light);
        assert_eq!(Theme::from_query(Some("nonsense")), Theme::Art);
    }

    #[test]
    fn control_characters_cannot_break_the_xml() {
        assert_eq!(escape("a\u{0}b\u{1b}c"), "a\u{FFFD}b\u{FFFD}c");
    }

    #[test]
    fn long_titles_are_cut_with_an_ellipsis() {
        let svg = svg_card(Some(&doc(&"x".repeat(80), true)), None, Theme::Dark, NOW);
        assert!(svg.contains(&format!("{}…", "x".repeat(26))));
    }

    #[test]
    fn the_progress_bar_advances_with_time_while_playing() {
        let d = doc("T", true);
        let at_fetch = svg_card(Some(&d), None, Theme::Light, NOW);
        let later = svg_card(Some(&d), None, Theme::Light, NOW + time::Duration::seconds(20));
        assert!(at_fetch.contains(r#"width="132" height="4""#), "{at_fetch}");
        assert!(later.contains(r#"width="158" height="4""#), "{later}");
    }

    #[test]
    fn the_status_line_says_how_long_ago() {
        let mut d = doc("T", false);
        d.status = Status::LastPlayed;
        d.played_at = Some(NOW - time::Duration::minutes(12));
        assert_eq!(status_line(Some(&d), NOW), "Last played 12 minutes ago");
        d.stale = true;
        assert_eq!(status_line(Some(&d), NOW), "Last played 12 minutes ago · may be out of date");
        d.played_at = Some(NOW - time::Duration::hours(40));
        d.stale = false;
        assert_eq!(status_line(Some(&d), NOW), "Last played 2 days ago");
    }

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
