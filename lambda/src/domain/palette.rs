//! The colours of an album's art: a background taken from the image, and a foreground and an
//! accent that stay readable on it (WCAG contrast at least 4.5:1 and 3:1).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// WCAG AA for text, which the foreground carries at the least.
pub const TEXT_CONTRAST: f64 = 4.5;
/// WCAG AAA for text, which the foreground aims at: one of white and black reaches it on
/// all but mid-tone backgrounds, where the better of the two still gives 4.58:1.
const TEXT_AIM: f64 = 7.0;
/// WCAG AA for large text and graphics (the progress bar, the logo), which the accent carries.
pub const ACCENT_CONTRAST: f64 = 3.0;
/// Spotify's own background for a playing view when there is no art.
pub const SPOTIFY_BLACK: Rgb = Rgb(0x19, 0x14, 0x14);

/// Art larger than this is not decoded: Spotify's renditions are 64, 300 and 640 px.
const MAX_SIDE: usize = 1024;
/// Pixels looked at per image; more changes no colour a person would notice.
const SAMPLES: usize = 4096;

/// A colour, written `#rrggbb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Relative luminance, as WCAG 2 defines it.
    pub fn luminance(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        0.2126 * linear(self.0) + 0.7152 * linear(self.1) + 0.0722 * linear(self.2)
    }

    /// WCAG 2 contrast ratio, from 1 (the same) to 21 (black on white).
    pub fn contrast(self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// `self` moved a fraction `t` (0 to 1) of the way towards `to`.
    pub fn mix(self, to: Rgb, t: f64) -> Rgb {
        let channel = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round().clamp(0.0, 255.0) as u8;
        Rgb(channel(self.0, to.0), channel(self.1, to.1), channel(self.2, to.2))
    }

    /// White or black, whichever contrasts more with `self`: for a one-colour mark on it.
    pub fn monochrome(self) -> Rgb {
        let (white, black) = (Rgb(255, 255, 255), Rgb(0, 0, 0));
        if white.contrast(self) >= black.contrast(self) { white } else { black }
    }

    /// Chroma: how far from grey, 0 to 255.
    fn chroma(self) -> u8 {
        self.0.max(self.1).max(self.2) - self.0.min(self.1).min(self.2)
    }

    fn distance(self, other: Rgb) -> u32 {
        let d = |a: u8, b: u8| u32::from(a.abs_diff(b)).pow(2);
        d(self.0, other.0) + d(self.1, other.1) + d(self.2, other.2)
    }

    fn parse(s: &str) -> Option<Rgb> {
        let hex = s.strip_prefix('#').filter(|h| h.len() == 6 && h.is_ascii())?;
        let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Rgb(channel(0)?, channel(2)?, channel(4)?))
    }
}

impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

impl Serialize for Rgb {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rgb {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Rgb::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a #rrggbb colour")))
    }
}

/// The three colours a page takes from the art.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Palette {
    pub background: Rgb,
    pub foreground: Rgb,
    pub accent: Rgb,
}

impl Palette {
    /// The palette of a JPEG image (Spotify's art is JPEG); `None` for anything that is not
    /// one, is damaged, or is larger than Spotify's largest rendition.
    pub fn of_jpeg(bytes: &[u8]) -> Option<Palette> {
        let options = DecoderOptions::default()
            .jpeg_set_out_colorspace(ColorSpace::RGB)
            .set_max_width(MAX_SIDE)
            .set_max_height(MAX_SIDE);
        let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
        let pixels = decoder.decode().ok()?;
        let rgb: Vec<Rgb> = pixels.chunks_exact(3).map(|p| Rgb(p[0], p[1], p[2])).collect();
        Palette::of_pixels(&rgb)
    }

    /// The palette of these pixels; `None` when there are none.
    ///
    /// The background is the most common colour (in 4-bit-per-channel bins, averaged within
    /// the bin). The foreground is the background moved towards white or black, whichever
    /// contrasts more, until it reaches 7:1 (or that end, at least 4.58:1). The accent is
    /// the most common colour clearly unlike the background, favouring vivid ones, moved the
    /// same way only as far as 3:1 needs.
    pub fn of_pixels(pixels: &[Rgb]) -> Option<Palette> {
        if pixels.is_empty() {
            return None;
        }
        let step = pixels.len().div_ceil(SAMPLES);
        let mut bins: Vec<Bin> = vec![Bin::default(); 4096];
        for p in pixels.iter().step_by(step) {
            let index = (usize::from(p.0 >> 4) << 8) | (usize::from(p.1 >> 4) << 4) | usize::from(p.2 >> 4);
            bins[index].add(*p);
        }
        let mut colours: Vec<(u32, Rgb)> = bins.iter().filter(|b| b.count > 0).map(|b| (b.count, b.mean())).collect();
        // Most common first; ties in a fixed order, so one image always gives one palette.
        colours.sort_by(|a, b| b.0.cmp(&a.0).then((a.1.0, a.1.1, a.1.2).cmp(&(b.1.0, b.1.1, b.1.2))));
        let background = colours[0].1;
        let foreground = readable(background, background, TEXT_AIM);
        let accent = colours
            .iter()
            .filter(|(_, c)| c.distance(background) >= 64 * 64)
            .max_by_key(|(count, c)| {
                (u64::from(*count) * (64 + u64::from(c.chroma())), std::cmp::Reverse((c.0, c.1, c.2)))
            })
            .map_or(foreground, |(_, c)| readable(*c, background, ACCENT_CONTRAST));
        Some(Palette { background, foreground, accent })
    }

    /// Whether the foreground and the accent meet their contrast ratios on the background.
    pub fn is_readable(&self) -> bool {
        self.foreground.contrast(self.background) >= TEXT_CONTRAST
            && self.accent.contrast(self.background) >= ACCENT_CONTRAST
    }
}

#[derive(Clone, Copy, Default)]
struct Bin {
    count: u32,
    sum: [u32; 3],
}

impl Bin {
    fn add(&mut self, p: Rgb) {
        self.count += 1;
        self.sum[0] += u32::from(p.0);
        self.sum[1] += u32::from(p.1);
        self.sum[2] += u32::from(p.2);
    }

    fn mean(&self) -> Rgb {
        let channel = |sum: u32| u8::try_from(sum / self.count).unwrap_or(u8::MAX);
        Rgb(channel(self.sum[0]), channel(self.sum[1]), channel(self.sum[2]))
    }
}

/// `colour`, or the least change of it towards white or black (whichever contrasts more with
/// `background`) that has at least `ratio` contrast with `background`, else that end itself.
/// One of pure white and pure black has at least 4.58:1 with any colour, so the answer
/// always meets `TEXT_CONTRAST`.
fn readable(colour: Rgb, background: Rgb, ratio: f64) -> Rgb {
    let target = background.monochrome();
    (0..=20)
        .map(|step| colour.mix(target, f64::from(step) / 20.0))
        .find(|c| c.contrast(background) >= ratio)
        .unwrap_or(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_matches_wcag_reference_values() {
        let (white, black) = (Rgb(255, 255, 255), Rgb(0, 0, 0));
        assert!((white.contrast(black) - 21.0).abs() < 1e-9);
        assert!((Rgb(0x76, 0x76, 0x76).contrast(white) - 4.54).abs() < 0.01);
        assert!((white.contrast(white) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn colours_are_written_and_read_as_hex() {
        assert_eq!(Rgb(0x19, 0x14, 0xab).to_string(), "#1914ab");
        assert_eq!(Rgb::parse("#1914ab"), Some(Rgb(0x19, 0x14, 0xab)));
        for bad in ["1914ab", "#1914a", "#1914abc", "#gg14ab", "#19١4a"] {
            assert_eq!(Rgb::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn mixing_moves_each_channel_the_given_fraction_of_the_way() {
        let colour = Rgb(100, 40, 200);
        assert_eq!(colour.mix(Rgb(0, 0, 0), 0.5), Rgb(50, 20, 100));
        assert_eq!(colour.mix(Rgb(255, 255, 255), 0.5), Rgb(178, 148, 228));
        assert_eq!(colour.mix(Rgb(0, 0, 0), 0.0), colour);
        assert_eq!(colour.mix(Rgb(0, 0, 0), 1.0), Rgb(0, 0, 0));
    }

    #[test]
    fn the_foreground_is_the_least_change_that_reaches_the_aim() {
        // Dark navy: white reaches 7:1 long before white itself.
        let navy = Rgb(20, 20, 60);
        let fg = readable(navy, navy, TEXT_AIM);
        assert!(fg.contrast(navy) >= TEXT_AIM, "{fg}");
        assert_ne!(fg, Rgb(255, 255, 255), "not all the way to white");
        let white = Rgb(255, 255, 255);
        let steps: Vec<Rgb> = (0..=20).map(|s| navy.mix(white, f64::from(s) / 20.0)).collect();
        let at = steps.iter().position(|c| *c == fg).expect("one of the steps towards white");
        assert!(steps[at - 1].contrast(navy) < TEXT_AIM, "one step less would have done");
    }

    fn image(parts: &[(usize, Rgb)]) -> Vec<Rgb> {
        parts.iter().flat_map(|&(n, colour)| std::iter::repeat_n(colour, n)).collect()
    }

    #[test]
    fn a_vivid_accent_wins_over_a_more_common_grey() {
        let navy = Rgb(20, 20, 60);
        let red = Rgb(230, 30, 30);
        let palette = Palette::of_pixels(&image(&[(50, navy), (30, Rgb(128, 128, 128)), (20, red)])).unwrap();
        assert_eq!(palette.background, navy);
        assert_eq!(palette.accent, red, "red already has 3:1 on navy");
    }

    #[test]
    fn a_colour_unlike_the_background_in_one_channel_only_is_an_accent() {
        let navy = Rgb(20, 20, 60);
        for other in [Rgb(220, 20, 60), Rgb(20, 220, 60), Rgb(20, 20, 250)] {
            let palette = Palette::of_pixels(&image(&[(60, navy), (40, other)])).unwrap();
            assert_eq!(palette.accent, readable(other, navy, ACCENT_CONTRAST), "{other}");
            assert_ne!(palette.accent, palette.foreground, "{other}");
        }
    }

    #[test]
    fn colours_apart_in_one_channel_are_counted_apart() {
        // 32 apart, the same low bits: two bins, so the background is exactly the commoner.
        let navy = Rgb(20, 20, 60);
        for other in [Rgb(52, 20, 60), Rgb(20, 52, 60), Rgb(20, 20, 92)] {
            let palette = Palette::of_pixels(&image(&[(60, navy), (40, other)])).unwrap();
            assert_eq!(palette.background, navy, "{other} was counted with navy");
        }
    }

    #[test]
    fn a_colour_close_to_the_background_is_no_accent() {
        let navy = Rgb(20, 20, 60);
        let palette = Palette::of_pixels(&image(&[(60, navy), (40, Rgb(52, 20, 60))])).unwrap();
        assert_eq!(palette.accent, palette.foreground, "nothing unlike navy: the accent is the text's colour");
    }

    #[test]
    fn a_common_colour_beats_a_rare_more_vivid_one() {
        let navy = Rgb(20, 20, 60);
        let ochre = Rgb(200, 140, 60);
        let palette = Palette::of_pixels(&image(&[(60, navy), (30, ochre), (10, Rgb(255, 0, 0))])).unwrap();
        assert_eq!(palette.accent, readable(ochre, navy, ACCENT_CONTRAST));
    }

    #[test]
    fn a_common_grey_beats_a_rare_vivid_colour() {
        let navy = Rgb(20, 20, 60);
        let grey = Rgb(160, 160, 160);
        let palette = Palette::of_pixels(&image(&[(55, navy), (40, grey), (5, Rgb(255, 0, 0))])).unwrap();
        assert_eq!(palette.accent, readable(grey, navy, ACCENT_CONTRAST), "vivid is favoured, not chosen at any count");
    }

    #[test]
    fn a_palette_is_readable_only_when_both_colours_reach_their_ratio() {
        let (white, black, grey) = (Rgb(255, 255, 255), Rgb(0, 0, 0), Rgb(128, 128, 128));
        assert!(Palette { background: black, foreground: white, accent: grey }.is_readable());
        assert!(!Palette { background: black, foreground: Rgb(80, 80, 80), accent: white }.is_readable(), "text 2.6:1");
        assert!(
            !Palette { background: white, foreground: black, accent: Rgb(200, 200, 200) }.is_readable(),
            "accent 1.7:1"
        );
    }

    #[test]
    fn the_hardest_background_still_gets_readable_text() {
        // Mid-grey: white gives 3.95:1 and black 5.32:1 on #808080.
        let grey = Rgb(128, 128, 128);
        let fg = readable(grey, grey, TEXT_CONTRAST);
        assert!(fg.contrast(grey) >= TEXT_CONTRAST, "{fg}");
        assert!(fg.luminance() < grey.luminance(), "black contrasts more with mid-grey");
        for v in 0..=255 {
            let bg = Rgb(v, v, v);
            assert!(readable(bg, bg, TEXT_CONTRAST).contrast(bg) >= TEXT_CONTRAST, "{bg}");
        }
    }
}
