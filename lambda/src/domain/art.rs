//! Album art as the domain knows it.

/// An album art image, inlined in the card (GitHub's image proxy blocks outside images).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Art {
    pub content_type: String,
    pub bytes: Vec<u8>,
}
