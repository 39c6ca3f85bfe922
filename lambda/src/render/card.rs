//! The SVG card for READMEs: the art whole, the title, the artists, the status and
//! Spotify's icon, in the art's colours or a theme.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;

use super::*;
use crate::domain::{Art, NowPlaying};

/// Spotify's icon (simple-icons, CC0) as one SVG path in a 24×24 box: the card shows it at
/// the guidelines' minimum of 21 px, as the brand that accompanies Spotify's data.
pub(super) const SPOTIFY_ICON_PATH: &str = "M12 0C5.4 0 0 5.4 0 12s5.4 12 12 12 12-5.4 12-12S18.66 0 12 0zm5.521 17.34c-.24.359-.66.48-1.021.24-2.82-1.74-6.36-2.101-10.561-1.141-.418.122-.779-.179-.899-.539-.12-.421.18-.78.54-.9 4.56-1.021 8.52-.6 11.64 1.32.42.18.479.659.301 1.02zm1.44-3.3c-.301.42-.841.6-1.262.3-3.239-1.98-8.159-2.58-11.939-1.38-.479.12-1.02-.12-1.14-.6-.12-.48.12-1.021.6-1.141C9.6 9.9 15 10.561 18.72 12.84c.361.181.54.78.241 1.2zm.12-3.36C15.24 8.4 8.82 8.16 5.16 9.301c-.6.179-1.2-.181-1.38-.721-.18-.601.18-1.2.72-1.381 4.26-1.26 11.28-1.02 15.721 1.621.539.3.719 1.02.419 1.56-.299.421-1.02.599-1.559.3z";

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
            credits: Default::default(),
        };
        NowPlaying::from_spotify(
            Playback::Item { item, is_playing: status_playing, progress_ms: Some(100_000), context: None },
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
}
