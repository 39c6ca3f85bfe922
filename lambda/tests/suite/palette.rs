//! The palette taken from album art: known colours from known images, the contrast rules on
//! every image, and nothing but `None` from bytes that are not a JPEG.

use crate::support::jpeg;
use now_playing::domain::palette::{ACCENT_CONTRAST, TEXT_CONTRAST};
use now_playing::domain::{Palette, Rgb};
use proptest::prelude::*;

fn palette(width: u16, height: u16, colour: impl Fn(u16, u16) -> [u8; 3]) -> Palette {
    let palette = Palette::of_jpeg(&jpeg(width, height, colour)).expect("a palette from a JPEG");
    assert!(palette.is_readable(), "{palette:?}");
    palette
}

/// Within a JPEG's rounding of `expected`.
fn near(actual: Rgb, expected: [u8; 3]) -> bool {
    let [r, g, b] = expected;
    actual.0.abs_diff(r) <= 6 && actual.1.abs_diff(g) <= 6 && actual.2.abs_diff(b) <= 6
}

#[test]
fn a_solid_image_gives_its_colour_as_the_background() {
    let p = palette(64, 64, |_, _| [0x1d, 0xb9, 0x54]);
    assert!(near(p.background, [0x1d, 0xb9, 0x54]), "{p:?}");
    assert!(p.foreground.contrast(p.background) >= TEXT_CONTRAST);
    // Nothing else in the image: the accent is derived from the background's contrast side.
    assert!(p.accent.contrast(p.background) >= ACCENT_CONTRAST, "{p:?}");
}

#[test]
fn a_two_tone_image_gives_the_larger_part_as_background_and_the_other_as_accent() {
    // Three quarters deep blue, one quarter orange.
    let p = palette(64, 64, |x, _| if x < 48 { [0x10, 0x20, 0x70] } else { [0xf0, 0x90, 0x20] });
    assert!(near(p.background, [0x10, 0x20, 0x70]), "{p:?}");
    assert!(near(p.accent, [0xf0, 0x90, 0x20]), "orange already contrasts enough, so it stays: {p:?}");
    assert!(p.foreground.luminance() > p.background.luminance(), "light text on dark blue");
}

#[test]
fn near_black_art_gets_light_text() {
    let p = palette(64, 64, |x, y| if (x + y) % 9 == 0 { [0x0c, 0x0c, 0x10] } else { [0x05, 0x04, 0x06] });
    assert!(p.background.luminance() < 0.01, "{p:?}");
    assert!(p.foreground.luminance() > 0.3, "{p:?}");
}

#[test]
fn near_white_art_gets_dark_text() {
    let p = palette(64, 64, |_, y| if y < 60 { [0xfa, 0xfa, 0xf5] } else { [0xff, 0xff, 0xff] });
    assert!(near(p.background, [0xfa, 0xfa, 0xf5]), "{p:?}");
    assert!(p.foreground.luminance() < 0.2, "{p:?}");
}

#[test]
fn greyscale_art_stays_grey() {
    let p = palette(64, 64, |x, _| {
        let v = (x * 4) as u8;
        [v, v, v]
    });
    for c in [p.background, p.foreground, p.accent] {
        assert!(c.0.abs_diff(c.1) <= 3 && c.1.abs_diff(c.2) <= 3, "{c} is not grey in {p:?}");
    }
}

#[test]
fn a_vivid_minority_wins_the_accent_over_a_dull_one() {
    // Background dark grey; a little vivid red and a little more dull brown.
    let p = palette(100, 100, |x, _| match x {
        0..70 => [0x30, 0x30, 0x30],
        70..82 => [0x80, 0x70, 0x60],
        _ => [0xe0, 0x10, 0x20],
    });
    assert!(p.accent.0 > 0xc0 && p.accent.1 < 0x60, "red, not brown: {p:?}");
}

#[test]
fn the_same_image_always_gives_the_same_palette() {
    let image = jpeg(64, 64, |x, y| [(x * 3) as u8, (y * 3) as u8, ((x + y) * 2) as u8]);
    assert_eq!(Palette::of_jpeg(&image), Palette::of_jpeg(&image));
}

#[test]
fn what_is_not_a_jpeg_gives_none() {
    assert_eq!(Palette::of_jpeg(b""), None);
    assert_eq!(Palette::of_jpeg(crate::support::PIXEL_PNG), None);
    assert_eq!(Palette::of_jpeg(b"<svg/>"), None);
    let whole = jpeg(32, 32, |_, _| [1, 2, 3]);
    assert_eq!(Palette::of_jpeg(&whole[..whole.len() / 3]), None, "a truncated image");
}

#[test]
fn the_palette_is_written_as_hex_in_the_json() {
    let p =
        Palette { background: Rgb(0x19, 0x14, 0x14), foreground: Rgb(255, 255, 255), accent: Rgb(0x1e, 0xd7, 0x60) };
    let json = serde_json::to_value(p).unwrap();
    assert_eq!(json, serde_json::json!({"background": "#191414", "foreground": "#ffffff", "accent": "#1ed760"}));
    assert_eq!(serde_json::from_value::<Palette>(json).unwrap(), p);
    assert!(
        serde_json::from_value::<Palette>(
            serde_json::json!({"background": "red", "foreground": "#fff", "accent": "#000000"})
        )
        .is_err()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any image that decodes gives a palette that meets both contrast rules.
    #[test]
    fn any_decodable_image_meets_the_contrast_rules(
        width in 1u16..48,
        height in 1u16..48,
        colours in proptest::collection::vec(any::<[u8; 3]>(), 1..6),
        seed in any::<u16>(),
    ) {
        let image = jpeg(width, height, |x, y| colours[usize::from((x ^ seed).wrapping_add(y)) % colours.len()]);
        let p = Palette::of_jpeg(&image).expect("a JPEG this test encoded decodes");
        prop_assert!(p.foreground.contrast(p.background) >= TEXT_CONTRAST, "{:?}", p);
        prop_assert!(p.accent.contrast(p.background) >= ACCENT_CONTRAST, "{:?}", p);
    }

    /// Any pixels at all, not only a JPEG's.
    #[test]
    fn any_pixels_meet_the_contrast_rules(pixels in proptest::collection::vec(any::<[u8; 3]>(), 1..300)) {
        let pixels: Vec<Rgb> = pixels.into_iter().map(|[r, g, b]| Rgb(r, g, b)).collect();
        let p = Palette::of_pixels(&pixels).expect("pixels give a palette");
        prop_assert!(p.is_readable(), "{:?}", p);
    }

    /// Damaged or foreign bytes never panic: a palette that meets the rules, or `None`.
    #[test]
    fn damaged_images_never_panic(
        cut in 0usize..2000,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        noise in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = jpeg(24, 24, |x, y| [(x * 10) as u8, (y * 10) as u8, 90]);
        for (at, value) in flips {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        bytes.truncate(cut.min(bytes.len()));
        for attempt in [&bytes, &noise] {
            if let Some(p) = Palette::of_jpeg(attempt) {
                prop_assert!(p.is_readable(), "{:?}", p);
            }
        }
    }
}

// --- In the answer: computed once per image for every instance, never waited on twice.

mod in_answers {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use crate::support::*;
    use now_playing::domain::{ArtLibrary, NowPlayingService, Palette};

    fn teal() -> Vec<u8> {
        jpeg(64, 64, |_, _| [0x00, 0x80, 0x80])
    }

    struct Art {
        artwork: Arc<FakeArtwork>,
        shared: Arc<MemoryArtCache>,
    }

    impl Art {
        fn serving(bytes: Option<Vec<u8>>) -> Art {
            let artwork = Arc::new(FakeArtwork::default());
            *artwork.jpeg.lock().unwrap() = bytes;
            Art { artwork, shared: Arc::new(MemoryArtCache::default()) }
        }

        /// An instance with its own memory over the shared fakes.
        fn instance(&self, h: &Harness, id: &str) -> NowPlayingService {
            h.instance(id).with_art(Arc::new(ArtLibrary::new(self.artwork.clone(), self.shared.clone())))
        }

        fn fetches(&self) -> usize {
            self.artwork.fetches.load(Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn an_answer_carries_the_palette_of_its_art() {
        let h = playing_harness();
        let art = Art::serving(Some(teal()));
        let doc = art.instance(&h, "a").current().await.unwrap();
        let palette = doc.item.unwrap().palette.expect("a palette");
        assert_eq!(Some(palette), Palette::of_jpeg(&teal()));
        assert_eq!(art.fetches(), 1);
        assert!(art.shared.items.lock().unwrap().values().all(|a| a.palette == Some(palette)), "shared with the art");
    }

    #[tokio::test]
    async fn an_image_seen_before_costs_no_call_at_all() {
        let h = playing_harness();
        let art = Art::serving(Some(teal()));
        art.instance(&h, "a").current().await.unwrap();
        let loads = art.shared.loads.load(Ordering::SeqCst);
        // A cold instance, after the window: the same track, read from Spotify again.
        h.clock.advance(WINDOW * 2);
        let doc = art.instance(&h, "b").current().await.unwrap();
        assert_eq!(h.spotify.calls().1, 2, "the answer was refreshed");
        assert!(doc.item.unwrap().palette.is_some());
        assert_eq!(art.fetches(), 1, "not fetched again");
        assert_eq!(art.shared.loads.load(Ordering::SeqCst), loads, "not even looked up: the shared answer had it");
    }

    #[tokio::test]
    async fn another_instance_takes_a_new_image_from_the_shared_art() {
        let art = Art::serving(Some(teal()));
        let first = playing_harness();
        art.instance(&first, "a").current().await.unwrap();
        // Another deployment state (no shared answer), the same shared art.
        let second = playing_harness();
        let doc = art.instance(&second, "b").current().await.unwrap();
        assert!(doc.item.unwrap().palette.is_some());
        assert_eq!(art.fetches(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_art_is_not_waited_for_and_the_next_answer_has_it() {
        let h = playing_harness();
        let art = Art::serving(Some(teal()));
        *art.artwork.delay.lock().unwrap() = Duration::from_secs(1);
        let a = art.instance(&h, "a");
        let started = tokio::time::Instant::now();
        let doc = a.current().await.unwrap();
        assert!(started.elapsed() <= FAST_CACHE.palette + Duration::from_millis(50), "{:?}", started.elapsed());
        assert_eq!(doc.item.unwrap().palette, None, "the answer went out without it");
        tokio::time::sleep(Duration::from_secs(2)).await;
        h.clock.advance(WINDOW * 2);
        let doc = a.current().await.unwrap();
        assert!(doc.item.unwrap().palette.is_some(), "the fetch went on and the next refresh has it");
        assert_eq!(art.fetches(), 1);
    }

    #[tokio::test]
    async fn art_that_is_not_a_jpeg_gives_a_null_palette_and_an_answer() {
        let h = playing_harness();
        let art = Art::serving(None);
        let doc = art.instance(&h, "a").current().await.unwrap();
        let item = doc.item.unwrap();
        assert_eq!(item.palette, None);
        assert_eq!(serde_json::to_value(&item).unwrap()["palette"], serde_json::Value::Null);
    }

    #[tokio::test]
    async fn without_art_there_is_no_palette_and_no_fetch() {
        let h = Harness::new();
        h.spotify.script_refresh(vec![grant("access-1", None)]);
        h.spotify.script_playing(vec![Ok(playback("currently_playing_local.json"))]);
        let art = Art::serving(Some(teal()));
        let doc = art.instance(&h, "a").current().await.unwrap();
        assert_eq!(doc.item.unwrap().palette, None);
        assert_eq!(art.fetches(), 0);
    }
}

/// The covers the local Spotify stand-in serves (`scripts/devstack/covers/`): real JPEGs,
/// as Spotify's CDN sends, in colours that exercise the palette. Rewrite them with
/// `cargo test --test palette -- --ignored write_stand_in_covers`.
const COVERS: [([u8; 3], [u8; 3]); 6] = [
    ([0x7a, 0x7a, 0x7a], [0xff, 0xff, 0xff]),
    ([0xf3, 0xe9, 0xd2], [0x2e, 0x53, 0x39]),
    ([0x11, 0x11, 0x11], [0xe4, 0xff, 0x1a]),
    ([0xd9, 0xa2, 0x1b], [0x5a, 0x1a, 0x2b]),
    ([0x0e, 0x7c, 0x7b], [0xf7, 0xb2, 0xbd]),
    ([0x1b, 0x2a, 0x49], [0xf2, 0x6b, 0x5b]),
];

fn cover(background: [u8; 3], disc: [u8; 3]) -> Vec<u8> {
    // A disc off centre and a thin band: two colours, the background the larger part.
    jpeg(160, 160, |x, y| {
        let (dx, dy) = (f64::from(x) - 100.0, f64::from(y) - 70.0);
        let on_disc = (dx * dx + dy * dy).sqrt() < 52.0 && (dx * dx + dy * dy).sqrt() > 10.0;
        if on_disc || (128..136).contains(&y) { disc } else { background }
    })
}

fn covers_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/devstack/covers")
}

#[test]
#[ignore = "writes the stand-in's covers"]
fn write_stand_in_covers() {
    std::fs::create_dir_all(covers_dir()).unwrap();
    for (n, (background, disc)) in COVERS.iter().enumerate() {
        std::fs::write(covers_dir().join(format!("{n}.jpg")), cover(*background, *disc)).unwrap();
    }
}

#[test]
fn the_stand_ins_covers_are_jpegs_whose_palette_is_their_background() {
    for (n, (background, _)) in COVERS.iter().enumerate() {
        let bytes = std::fs::read(covers_dir().join(format!("{n}.jpg"))).expect("the stand-in's cover; see COVERS");
        let p = Palette::of_jpeg(&bytes).expect("a palette");
        assert!(near(p.background, *background), "cover {n}: {p:?}");
        assert!(p.is_readable());
    }
}
