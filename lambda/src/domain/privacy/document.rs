//! The owner's rules document, as `make privacy` writes it and the function reads it.

use std::collections::BTreeSet;

use serde::Deserialize;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Hidden, Paused, PrivacyRules, QuietHours, is_spotify_id};

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
    #[serde(default)]
    paused_since: Option<String>,
    #[serde(default)]
    paused_spans: Vec<SpanDocument>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpanDocument {
    from: String,
    to: String,
}

fn instant(text: &str, key: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| format!("{key} must be a time such as 2026-12-08T01:00:00Z"))
}

fn written(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_default()
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
        let paused_since = match doc.paused_since.as_deref() {
            Some(text) if !sharing => Some(instant(text, "paused_since")?),
            Some(_) => return Err("paused_since belongs to paused sharing only".into()),
            None => None,
        };
        let paused = doc
            .paused_spans
            .iter()
            .map(|span| {
                let (from, to) = (instant(&span.from, "paused_spans.from")?, instant(&span.to, "paused_spans.to")?);
                if from > to {
                    return Err("a paused span must end after it starts".to_owned());
                }
                Ok(Paused { from, to })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(PrivacyRules {
            paused_since,
            paused,
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
        if let Some(since) = self.paused_since {
            doc["paused_since"] = written(since).into();
        }
        if !self.paused.is_empty() {
            doc["paused_spans"] =
                self.paused.iter().map(|p| serde_json::json!({"from": written(p.from), "to": written(p.to)})).collect();
        }
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
            (r#"{"sharing": "paused", "paused_since": "guilty"}"#, "paused_since must be a time"),
            (r#"{"paused_since": "2026-12-08T01:00:00Z"}"#, "paused sharing only"),
            (r#"{"paused_spans": [{"from": "2026-12-08T02:00:00Z", "to": "2026-12-08T01:00:00Z"}]}"#, "must end after"),
            (r#"{"paused_spans": [{"from": "2026-12-08T01:00:00Z"}]}"#, "not a JSON object"),
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
            r#"{{"sharing": "paused", "paused_since": "2026-12-08T01:00:00Z",
                "paused_spans": [{{"from": "2026-12-07T22:00:00+01:00", "to": "2026-12-07T23:00:00Z"}}],
                "hide": {{"artists": ["{ARTIST}"], "playlists": ["{PLAYLIST}"]}},
                "hide_explicit": true, "quiet_hours": {{"from": "23:00", "to": "07:30", "time_zone": "Europe/Berlin"}}}}"#
        );
        let parsed = rules(&text);
        assert_eq!(rules(&parsed.to_document().to_string()), parsed);
        assert_eq!(parsed.to_document()["quiet_hours"]["to"], "07:30");
        assert_eq!(parsed.to_document()["paused_spans"][0]["from"], "2026-12-07T21:00:00Z");
        assert_eq!(parsed.paused.len(), 1);
    }
}
