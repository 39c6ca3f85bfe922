//! Album art as the domain knows it: the image, its palette, and one copy of each image for
//! every instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{info, warn};

use crate::domain::Image;
use crate::domain::palette::Palette;
use crate::domain::ports::{ArtCache, Artwork};

/// How many images an instance keeps; a listening session touches a handful an hour.
const MEMORY_ENTRIES: usize = 64;

/// An album art image, inlined in the card (GitHub's image proxy blocks outside images),
/// with the palette taken from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Art {
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// `None` when the image could not be decoded.
    pub palette: Option<Palette>,
}

impl Art {
    /// An image as fetched: its palette is computed here, once per image.
    pub fn new(content_type: String, bytes: Vec<u8>) -> Art {
        let palette = if content_type == "image/jpeg" { Palette::of_jpeg(&bytes) } else { None };
        Art { content_type, bytes, palette }
    }
}

/// The rendition the card inlines and the palette comes from: the largest up to 300 px wide
/// (the card shows 88 px at 2x and more), else the smallest. `images` is largest first.
pub fn art_image(images: &[Image]) -> Option<&Image> {
    images.iter().find(|i| i.width.is_none_or(|w| w <= 300)).or(images.last())
}

/// The rendition nearest `size` pixels wide, preferring the larger of two equally near.
pub fn nearest_image(images: &[Image], size: u32) -> Option<&Image> {
    images.iter().min_by_key(|i| {
        let width = i.width.unwrap_or(size);
        (width.abs_diff(size), std::cmp::Reverse(width))
    })
}

/// Album art by URL: from this instance's memory, else the copy shared by all instances,
/// else fetched once and shared.
pub struct ArtLibrary {
    artwork: Arc<dyn Artwork>,
    shared: Arc<dyn ArtCache>,
    memory: Mutex<HashMap<String, Art>>,
}

impl ArtLibrary {
    pub fn new(artwork: Arc<dyn Artwork>, shared: Arc<dyn ArtCache>) -> Self {
        ArtLibrary { artwork, shared, memory: Mutex::new(HashMap::new()) }
    }

    /// The art at `url`; `None` when it cannot be had.
    pub async fn get(&self, url: &str) -> Option<Art> {
        if let Some(art) = self.remembered(url) {
            return Some(art);
        }
        let art = match self.shared.load(url).await {
            Ok(Some(art)) => art,
            other => {
                if let Err(e) = other {
                    warn!(error = %e, "shared album art unavailable");
                }
                let art =
                    self.artwork.fetch(url).await.inspect_err(|e| warn!(error = %e, "album art unavailable")).ok()?;
                // Shared while the caller goes on: nobody waits for the write.
                let (shared, url, copy) = (self.shared.clone(), url.to_owned(), art.clone());
                tokio::spawn(async move {
                    if let Err(e) = shared.save(&url, &copy).await {
                        warn!(error = %e, "could not share the album art");
                    }
                });
                art
            }
        };
        let mut memory = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        if memory.len() >= MEMORY_ENTRIES {
            memory.clear();
        }
        memory.insert(url.to_owned(), art.clone());
        Some(art)
    }

    /// The palette of the art at `url`, if it can be had within `budget`; past that the
    /// fetch carries on, so that the next call has it.
    pub async fn palette_within(self: Arc<Self>, url: String, budget: Duration) -> Option<Palette> {
        if let Some(remembered) = self.remembered(&url) {
            return remembered.palette;
        }
        let fetch = tokio::spawn(async move { self.get(&url).await });
        match tokio::time::timeout(budget, fetch).await {
            Ok(Ok(art)) => art?.palette,
            Ok(Err(e)) => {
                warn!(error = %e, "album art lookup failed");
                None
            }
            Err(_) => {
                info!("album art not had in time; this answer goes without its palette");
                None
            }
        }
    }

    /// The art at `url` if this instance holds it already.
    pub fn remembered(&self, url: &str) -> Option<Art> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner()).get(url).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(width: u32) -> Image {
        Image { url: format!("https://i.scdn.co/image/{width}"), width: Some(width), height: Some(width) }
    }

    /// Counts what reaches the CDN and the shared art; the shared art never has the image.
    #[derive(Default)]
    struct Counting {
        fetches: std::sync::atomic::AtomicUsize,
        loads: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Artwork for Counting {
        async fn fetch(&self, _url: &str) -> Result<Art, crate::domain::ports::ArtError> {
            self.fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Art::new("image/png".into(), vec![1, 2, 3]))
        }
    }

    #[async_trait::async_trait]
    impl ArtCache for Counting {
        async fn load(&self, _url: &str) -> Result<Option<Art>, crate::domain::ports::StoreError> {
            self.loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(None)
        }
        async fn save(&self, _url: &str, _art: &Art) -> Result<(), crate::domain::ports::StoreError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn images_seen_are_served_from_memory_up_to_its_bound() {
        let counting = Arc::new(Counting::default());
        let library = ArtLibrary::new(counting.clone(), counting.clone());
        let calls = || {
            use std::sync::atomic::Ordering::SeqCst;
            (counting.fetches.load(SeqCst), counting.loads.load(SeqCst))
        };
        for n in 0..MEMORY_ENTRIES {
            library.get(&format!("https://i.scdn.co/image/{n}")).await.expect("art");
        }
        assert_eq!(calls(), (MEMORY_ENTRIES, MEMORY_ENTRIES));
        assert!(library.remembered("https://i.scdn.co/image/0").is_some());
        library.get("https://i.scdn.co/image/0").await.expect("art");
        assert_eq!(calls(), (MEMORY_ENTRIES, MEMORY_ENTRIES), "every image seen is still in memory");
        library.get("https://i.scdn.co/image/new").await.expect("art");
        assert!(library.remembered("https://i.scdn.co/image/0").is_none(), "a full memory starts over");
        assert!(library.remembered("https://i.scdn.co/image/new").is_some());
    }

    #[test]
    fn the_card_takes_the_largest_rendition_up_to_300_px() {
        let images = [image(640), image(300), image(64)];
        assert_eq!(art_image(&images), Some(&images[1]));
        assert_eq!(art_image(&images[..1]), Some(&images[0]), "only a large one: that one");
        assert_eq!(art_image(&[]), None);
    }

    #[test]
    fn the_nearest_rendition_is_chosen_by_width() {
        let images = [image(640), image(300), image(64)];
        assert_eq!(nearest_image(&images, 64).map(|i| i.width), Some(Some(64)));
        assert_eq!(nearest_image(&images, 300).map(|i| i.width), Some(Some(300)));
        assert_eq!(nearest_image(&images, 640).map(|i| i.width), Some(Some(640)));
        assert_eq!(nearest_image(&images, 182).map(|i| i.width), Some(Some(300)), "as near as 64: the larger");
        assert_eq!(nearest_image(&images, 181).map(|i| i.width), Some(Some(64)));
        assert_eq!(nearest_image(&[], 300), None);
    }
}
