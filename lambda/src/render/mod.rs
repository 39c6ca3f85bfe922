//! What the function shows, rendered from a `NowPlaying`: the widget's scripts, the SVG
//! card for READMEs (`card`) and the preview page (`page`). Serving them is `http::embeds`.

use std::sync::LazyLock;

use time::OffsetDateTime;

use crate::domain::{ItemKind, NowPlaying, Palette, Status};

/// The `<now-playing>` custom element, served as `/v1/widget.js`.
pub const WIDGET_JS: &str = include_str!("../../assets/widget.js");

/// Its "Suggest a song" dialog, served as `/v1/widget-suggest.js`; the widget imports it with
/// its own `?v=` only when the `suggest` attribute is present.
pub const SUGGEST_JS: &str = include_str!("../../assets/widget-suggest.js");

/// The live module, served as `/v1/widget-live.js`; the widget imports it with its own `?v=`
/// only when the `live` attribute is present.
pub const LIVE_JS: &str = include_str!("../../assets/widget-live.js");

/// The widget as served: `served(WIDGET_JS)`.
pub static WIDGET_SERVED: LazyLock<String> = LazyLock::new(|| served(WIDGET_JS));
/// The dialog as served.
pub static SUGGEST_SERVED: LazyLock<String> = LazyLock::new(|| served(SUGGEST_JS));
/// The live module as served.
pub static LIVE_SERVED: LazyLock<String> = LazyLock::new(|| served(LIVE_JS));

/// A script as visitors get it: its source without comment lines, blank lines and
/// indentation, which every visitor would otherwise download (about a fifth of the widget
/// gzipped). The sources are prettier-formatted, so a comment either has its lines to itself
/// or ends a line of code (kept), and no template literal (the CSS, the HTML) holds a line
/// that starts with one or depends on its indentation; the browser tests run the result.
pub fn served(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut in_comment = false;
    for line in source.lines() {
        let code = line.trim_start();
        if in_comment || code.starts_with("/*") {
            in_comment = !code.contains("*/");
        } else if !code.is_empty() && !code.starts_with("//") {
            out.push_str(code);
            out.push('\n');
        }
    }
    out
}

/// Changes whenever the widget, its dialog or its live module does; `?v=VERSION` may be cached for a year.
pub fn widget_version() -> String {
    let both = [WIDGET_JS.as_bytes(), SUGGEST_JS.as_bytes(), LIVE_JS.as_bytes()].concat();
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

mod card;
mod page;
mod recent_card;

pub use card::svg_card;
pub use page::preview_page;
pub use recent_card::svg_recent;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_served_script_is_its_code_without_comments_blank_lines_or_indentation() {
        let source = "// A comment.\nconst CSS = `\n:host{display:block}\n`;\n\n/** A doc\n * comment. */\nclass A {\n  \
                      /** One line. */\n  f() {\n    return 1; // kept\n  }\n}\n";
        assert_eq!(
            served(source),
            "const CSS = `\n:host{display:block}\n`;\nclass A {\nf() {\nreturn 1; // kept\n}\n}\n"
        );
        for (name, script, served) in [("widget", WIDGET_JS, &*WIDGET_SERVED), ("dialog", SUGGEST_JS, &*SUGGEST_SERVED)]
        {
            assert!(served.len() < script.len() * 9 / 10, "{name}: {} of {}", served.len(), script.len());
            assert!(!served.lines().any(|l| l.starts_with("//") || l.starts_with("/*")), "{name}");
            // Every line of code is there, in order.
            let code: Vec<&str> = script
                .lines()
                .map(str::trim_start)
                .filter(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with("/*") && !l.starts_with('*'))
                .collect();
            assert_eq!(served.lines().collect::<Vec<_>>(), code, "{name}");
        }
    }
}
