//! The owner's rules document, as `make privacy` writes it and the function reads it.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::{Hidden, PrivacyRules, QuietHours, is_spotify_id};

/// The document's shape; every key optional, nothing unknown.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    sharing: Option<String>,
    #[serde(default)]
    hide: Option<HideDocument>,
    #[serde(default)]
    hide_explicit: Option<bool>,
    #[serde(default)]
    hide_episodes: Option<bool>,
    #[serde(default)]
    quiet_hours: Option<QuietDocument>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HideDocument {
    #[serde(default)]
    artists: Vec<String>,
    #[serde(default)]
    tracks: Vec<String>,
    #[serde(default)]
    albums: Vec<String>,
    #[serde(default)]
    shows: Vec<String>,
    #[serde(default)]
    playlists: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuietDocument {
    from: String,
    to: String,
    time_zone: String,
}

impl PrivacyRules {
    /// Parses the document. The error names what is wrong and where, never a value from it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("the privacy document is not JSON (line {}, column {})", e.line(), e.column()))?;
        // Only an object: serde would read a list as the struct's fields in order (`[]` as
        // no rules at all, `["paused"]` as sharing paused).
        if !value.is_object() {
            return Err("the privacy document must be a JSON object, such as {\"sharing\": \"on\"}".into());
        }
        let doc: Document = serde_json::from_value(value)
            .map_err(|_| "the privacy document is not a JSON object of the expected keys".to_owned())?;
        let sharing = match doc.sharing.as_deref() {
            None | Some("on") => true,
            Some("paused") => false,
            Some(_) => return Err("sharing must be on or paused".into()),
        };
        let hide = doc.hide.unwrap_or_default();
        let ids = |key: &str, list: Vec<String>| -> Result<BTreeSet<String>, String> {
            list.into_iter()
                .map(|id| {
                    if is_spotify_id(&id) {
                        Ok(id)
                    } else {
                        Err(format!("hide.{key} holds something that is not a Spotify id"))
                    }
                })
                .collect()
        };
        let hide = Hidden {
            artists: ids("artists", hide.artists)?,
            tracks: ids("tracks", hide.tracks)?,
            albums: ids("albums", hide.albums)?,
            shows: ids("shows", hide.shows)?,
            playlists: ids("playlists", hide.playlists)?,
        };
        let quiet_hours = match doc.quiet_hours {
            Some(q) => Some(QuietHours::new(&q.from, &q.to, &q.time_zone)?),
            None => None,
        };
        Ok(PrivacyRules {
            sharing,
            hide,
            hide_explicit: doc.hide_explicit.unwrap_or(false),
            hide_episodes: doc.hide_episodes.unwrap_or(false),
            quiet_hours,
        })
    }

    /// The document `make privacy` writes: every key, in a stable order.
    pub fn to_document(&self) -> serde_json::Value {
        let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>();
        let mut doc = serde_json::json!({
            "sharing": if self.sharing { "on" } else { "paused" },
            "hide": {
                "artists": list(&self.hide.artists),
                "tracks": list(&self.hide.tracks),
                "albums": list(&self.hide.albums),
                "shows": list(&self.hide.shows),
                "playlists": list(&self.hide.playlists),
            },
            "hide_explicit": self.hide_explicit,
            "hide_episodes": self.hide_episodes,
        });
        if let Some(q) = &self.quiet_hours {
            doc["quiet_hours"] = serde_json::json!({
                "from": format!("{:02}:{:02}", q.from.0, q.from.1),
                "to": format!("{:02}:{:02}", q.to.0, q.to.1),
                "time_zone": q.time_zone,
            });
        }
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARTIST: &str = "0gxyHStUsqpMadRV0Di1Qt";
    const PLAYLIST: &str = "37i9dQZF1DXcBWIGoYBM5M";

    fn rules(json: &str) -> PrivacyRules {
        PrivacyRules::parse(json).unwrap()
    }

    #[test]
    fn a_bad_document_is_refused_naming_the_key_never_the_value() {
        for (doc, names) in [
            ("not json at all", "not JSON"),
            ("[]", "must be a JSON object"),
            (r#"["paused"]"#, "must be a JSON object"),
            (r#"{"quiet_hours": {"from": "+0:00", "to": "07:00", "time_zone": "UTC"}}"#, "quiet_hours.from"),
            (r#"{"quiet_hours": {"from": "23:00", "to": "7:00 ", "time_zone": "UTC"}}"#, "quiet_hours.to"),
            (r#"{"sharing": "secretly-on"}"#, "sharing must be on or paused"),
            (r#"{"hide": {"artists": ["guilty-pleasure-band"]}}"#, "hide.artists"),
            (r#"{"hide": {"bands": []}}"#, "not a JSON object"),
            (r#"{"hide_explicit": "guilty"}"#, "not a JSON object"),
            (r#"{"quiet_hours": {"from": "25:00", "to": "07:00", "time_zone": "Europe/Berlin"}}"#, "quiet_hours.from"),
            (r#"{"quiet_hours": {"from": "23:00", "to": "07:00", "time_zone": "Mars/Olympus"}}"#, "time_zone"),
            (r#"{"quiet_hours": {"from": "07:00", "to": "07:00", "time_zone": "UTC"}}"#, "must differ"),
        ] {
            let err = PrivacyRules::parse(doc).unwrap_err();
            assert!(err.contains(names), "{doc}: {err}");
            for secret in ["guilty", "secretly", "bands", "Mars", "25:00"] {
                assert!(!err.contains(secret), "{doc}: the error repeats the document: {err}");
            }
        }
    }

    #[test]
    fn the_document_round_trips() {
        let text = format!(
            r#"{{"sharing": "paused", "hide": {{"artists": ["{ARTIST}"], "playlists": ["{PLAYLIST}"]}},
                "hide_explicit": true, "quiet_hours": {{"from": "23:00", "to": "07:30", "time_zone": "Europe/Berlin"}}}}"#
        );
        let parsed = rules(&text);
        assert_eq!(rules(&parsed.to_document().to_string()), parsed);
        assert_eq!(parsed.to_document()["quiet_hours"]["to"], "07:30");
    }
}
