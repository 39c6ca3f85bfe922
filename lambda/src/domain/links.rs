//! Which links and images taken from Spotify's answers may reach a visitor: a link only to
//! `https://open.spotify.com/`, an image only from Spotify's CDNs or a configured host.

/// Whether `url` is a link to Spotify's web player, safe in an `href` and a `Location`.
pub fn is_spotify_link(url: &str) -> bool {
    url.strip_prefix("https://open.spotify.com/")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_graphic() && !"\"'<>\\`{}|^".contains(c)))
}

/// Where album art may come from: Spotify's image CDNs over HTTPS, and any extra hosts the
/// owner configured (`ART_HOSTS`, `host` or `host:port`, e.g. a local stand-in).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageHosts {
    extra: Vec<String>,
}

impl ImageHosts {
    pub fn new(extra: Vec<String>) -> Self {
        ImageHosts { extra: extra.into_iter().map(|h| h.to_ascii_lowercase()).collect() }
    }

    /// The configured hosts besides Spotify's CDNs.
    pub fn extra(&self) -> &[String] {
        &self.extra
    }

    /// Whether an image at `url` may be fetched or shown.
    pub fn allows(&self, url: &str) -> bool {
        let Some((scheme, rest)) = url.split_once("://") else { return false };
        if url.chars().any(|c| !c.is_ascii_graphic() || "\"'<>\\`".contains(c)) {
            return false;
        }
        // Only plain `host` or `host:port`: no user info, nothing that reparses elsewhere.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase();
        if authority.is_empty() || !authority.chars().all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c)) {
            return false;
        }
        let spotify_cdn = scheme == "https"
            && !authority.contains(':')
            && (authority.ends_with(".scdn.co") || authority.ends_with(".spotifycdn.com"));
        spotify_cdn || (matches!(scheme, "http" | "https") && self.extra.contains(&authority))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_spotify_image_hosts_over_https_and_configured_hosts_are_allowed() {
        let hosts = ImageHosts::new(vec!["127.0.0.1:5060".into()]);
        for (url, ok) in [
            ("https://i.scdn.co/image/ab67616d0000b273", true),
            ("https://image-cdn-ak.spotifycdn.com/image/x", true),
            ("https://I.SCDN.CO/image/x", true),
            ("http://i.scdn.co/image/x", false),
            ("https://evil.example/i.scdn.co", false),
            ("https://scdn.co.evil.example/x", false),
            ("https://user@i.scdn.co/x", false),
            ("https://i.scdn.co:8443/x", false),
            ("https://i.scdn.co\\@evil.example/x", false),
            ("//i.scdn.co/x", false),
            ("javascript:alert(1)//i.scdn.co", false),
            ("http://169.254.169.254/latest/meta-data", false),
            ("http://127.0.0.1:5060/image/x", true),
            ("http://127.0.0.1:9000/v1/current", false),
            ("http://127.0.0.1:5060.evil.example/x", false),
            ("https://i.scdn.co/image/a\"onerror=\"alert(1)", false),
            ("https://i.scdn.co/image/a b", false),
            ("https://i.scdn.co/image/a<script>", false),
        ] {
            assert_eq!(hosts.allows(url), ok, "{url}");
        }
    }

    #[test]
    fn only_links_to_open_spotify_com_are_allowed() {
        for (url, ok) in [
            ("https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC", true),
            ("https://open.spotify.com/album/x?si=abc&t=1", true),
            ("https://open.spotify.com", false),
            ("http://open.spotify.com/track/x", false),
            ("https://open.spotify.com.evil.example/track/x", false),
            ("https://open.spotify.com@evil.example/track/x", false),
            ("javascript:alert(1)", false),
            ("//open.spotify.com/track/x", false),
            ("https://open.spotify.com/track/x\"><script>", false),
            ("https://open.spotify.com/track/x y", false),
        ] {
            assert_eq!(is_spotify_link(url), ok, "{url}");
        }
    }
}
