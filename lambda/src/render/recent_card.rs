//! The recently-played card for READMEs: a row per play with its art whole and small, the
//! title, the artists or show, and how long ago; Spotify's icon at the top.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;

use super::card::SPOTIFY_ICON_PATH;
use super::*;
use crate::domain::{Art, RecentPlays};

const FONT: &str = "system-ui,-apple-system,Segoe UI,Roboto,sans-serif";
/// The height of the heading, of a row, and of the space below the last.
const HEAD: usize = 44;
const ROW: usize = 52;
const FOOT: usize = 8;

/// A 400-pixel-wide card of the first `limit` plays of `recent`, each with its art (the
/// same index in `art`) when it could be had, in a theme (`Art` is `Light`: a list has no
/// one palette).
pub fn svg_recent(
    recent: Option<&RecentPlays>,
    art: &[Option<Art>],
    limit: usize,
    theme: Theme,
    now: OffsetDateTime,
) -> String {
    let Colours { bg, fg, muted, track, icon, .. } = Colours::of(theme, None);
    let plays: Vec<_> = recent.map(|r| r.plays.iter().take(limit).collect()).unwrap_or_default();
    let mut rows = String::new();
    for (n, play) in plays.iter().enumerate() {
        let y = HEAD + n * ROW;
        let picture = match art.get(n).and_then(Option::as_ref) {
            Some(art) => format!(
                r#"<image x="16" y="{y}" width="40" height="40" clip-path="url(#r{n})" preserveAspectRatio="xMidYMid meet" href="data:{};base64,{}"/>"#,
                escape(&art.content_type),
                STANDARD.encode(&art.bytes)
            ),
            None => format!(r#"<rect x="16" y="{y}" width="40" height="40" rx="4" fill="{track}"/>"#),
        };
        let item = &play.item;
        let by = item.artists.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ");
        let when = ago(play.played_at, now);
        rows.push_str(&format!(
            r#"<clipPath id="r{n}"><rect x="16" y="{y}" width="40" height="40" rx="4"/></clipPath>{picture}<text x="68" y="{t}" font-family="{FONT}" font-size="14" font-weight="600" fill="{fg}">{title}</text><text x="68" y="{b}" font-family="{FONT}" font-size="12" fill="{muted}">{by}</text><text x="384" y="{b}" text-anchor="end" font-family="{FONT}" font-size="12" fill="{muted}">{when}</text>"#,
            t = y + 17,
            b = y + 35,
            // What fits in the 316 px beside the art; the artists share their line with the time.
            title = escape(&fit(&item.name, 34)),
            by = escape(&fit(&by, 30)),
            when = escape(&when),
        ));
    }
    if plays.is_empty() {
        rows = format!(
            r#"<text x="16" y="{}" font-family="{FONT}" font-size="13" fill="{muted}">Nothing to show</text>"#,
            HEAD + 22
        );
    }
    let height = HEAD + plays.len().max(1) * ROW + FOOT;
    let stale = if recent.is_some_and(|r| r.stale) { " · may be out of date" } else { "" };
    let label = escape(&format!("Recently played on Spotify{stale}"));
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="{height}" viewBox="0 0 400 {height}" role="img" aria-label="{label}"><title>{label}</title><rect width="400" height="{height}" rx="12" fill="{bg}"/><text x="16" y="28" font-family="{FONT}" font-size="13" font-weight="600" fill="{muted}">Recently played{stale}</text><path transform="translate(363 10) scale(0.875)" fill="{icon}" d="{SPOTIFY_ICON_PATH}"><title>Spotify</title></path>{rows}</svg>"##
    )
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::domain::{Item, ItemKind, Link, Played};

    const NOW: OffsetDateTime = datetime!(2026-12-05 12:00:00 UTC);

    fn play(name: &str, minutes_ago: i64) -> Played {
        Played {
            item: Item {
                kind: ItemKind::Track,
                id: None,
                name: name.into(),
                url: None,
                artists: vec![Link { name: "A & B".into(), url: None }],
                album: Link { name: "Album".into(), url: None },
                images: vec![],
                duration_ms: 1,
                explicit: false,
                is_local: false,
                palette: None,
                credits: Default::default(),
            },
            played_at: NOW - time::Duration::minutes(minutes_ago),
            context: None,
        }
    }

    fn list(plays: Vec<Played>) -> RecentPlays {
        RecentPlays { plays, fetched_at: NOW, stale: false, stale_reason: None }
    }

    #[test]
    fn a_row_per_play_up_to_the_limit_with_art_uncropped_and_the_icon() {
        let recent = list(vec![play("One", 3), play("</text><script>", 12), play("Three", 200)]);
        let art = [Some(Art::new("image/jpeg".into(), vec![1, 2, 3])), None, None];
        let svg = svg_recent(Some(&recent), &art, 2, Theme::Dark, NOW);
        assert!(svg.contains(r#"height="156" viewBox="0 0 400 156""#), "44 + 2 rows of 52 + 8: {svg}");
        assert!(svg.contains(">One<") && svg.contains("&lt;/text&gt;&lt;script&gt;") && !svg.contains("Three"));
        assert!(svg.contains("3 minutes ago") && svg.contains("12 minutes ago"));
        assert!(svg.contains(r#"preserveAspectRatio="xMidYMid meet" href="data:image/jpeg;base64,AQID""#));
        assert!(
            !svg.contains("slice") && !svg.contains("filter") && !svg.contains("opacity"),
            "never cropped or covered"
        );
        assert!(svg.contains(SPOTIFY_ICON_PATH) && svg.contains("<title>Spotify</title>"));
        assert!(svg.contains(r##"rx="12" fill="#181818""##), "the dark theme");
    }

    #[test]
    fn an_empty_or_missing_list_says_so() {
        for recent in [Some(list(vec![])), None] {
            let svg = svg_recent(recent.as_ref(), &[], 5, Theme::Light, NOW);
            assert!(svg.contains("Nothing to show") && svg.contains(r#"height="104""#), "{svg}");
        }
        let stale = RecentPlays { stale: true, ..list(vec![play("One", 1)]) };
        assert!(svg_recent(Some(&stale), &[], 5, Theme::Light, NOW).contains("may be out of date"));
    }
}
