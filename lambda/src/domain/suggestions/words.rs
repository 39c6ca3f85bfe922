//! Visitors' words: a name, a message, a search. Trimmed and bounded, and free of the
//! characters that would show the owner something other than what was sent.

use super::model::{MAX_QUERY_CHARS, SuggestError};

/// Whether `c` is invisible or changes how the text around it is ordered or shown: the
/// bidirectional controls (U+202A–202E, U+2066–2069, the marks U+200E, U+200F, U+061C),
/// zero-width and other invisible format characters (U+200B, U+2060–2064, U+FEFF, the soft
/// hyphen), tag characters and private use. Such text can show the owner something other
/// than what was sent ("gpj.exe" read backwards). The zero-width joiner and non-joiner stay
/// allowed: emoji sequences and several scripts need them.
pub fn is_invisible_or_reordering(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E007F}'
            | '\u{E000}'..='\u{F8FF}'
            | '\u{F0000}'..='\u{10FFFF}'
    )
}

/// A visitor's stored words as they may be shown on a terminal: control, invisible and
/// reordering characters escaped as `\u{…}`, so the owner sees exactly what is there.
pub fn shown_escaped(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || is_invisible_or_reordering(c) {
                format!("\\u{{{:04x}}}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Trims a visitor's optional text; refuses control, invisible and reordering characters
/// and over-long text.
pub fn visitor_text(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, SuggestError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    if value.chars().any(char::is_control) {
        return Err(SuggestError::BadRequest(format!("{field} must not contain control characters")));
    }
    if value.chars().any(is_invisible_or_reordering) {
        return Err(SuggestError::BadRequest(format!(
            "{field} must not contain invisible or text-direction characters"
        )));
    }
    if value.chars().count() > max {
        return Err(SuggestError::BadRequest(format!("{field} is longer than {max} characters")));
    }
    Ok(Some(value.to_owned()))
}

/// The search text as cached: trimmed, inner spaces collapsed, lower case.
pub fn normalized_query(q: &str) -> Result<String, SuggestError> {
    let q = q.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars = q.chars().count();
    if chars == 0 || chars > MAX_QUERY_CHARS {
        return Err(SuggestError::BadRequest(format!("q must be 1 to {MAX_QUERY_CHARS} characters")));
    }
    if q.chars().any(char::is_control) {
        return Err(SuggestError::BadRequest("q must not contain control characters".into()));
    }
    Ok(q.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitor_text_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(visitor_text("name", Some("  Ada "), 40), Ok(Some("Ada".into())));
        assert_eq!(visitor_text("name", Some("   "), 40), Ok(None));
        assert_eq!(visitor_text("name", None, 40), Ok(None));
        assert_eq!(visitor_text("name", Some(&"é".repeat(40)), 40), Ok(Some("é".repeat(40))));
        assert!(matches!(visitor_text("name", Some(&"é".repeat(41)), 40), Err(SuggestError::BadRequest(_))));
        assert!(matches!(visitor_text("message", Some("a\u{0}b"), 140), Err(SuggestError::BadRequest(_))));
        assert!(matches!(visitor_text("message", Some("a\nb"), 140), Err(SuggestError::BadRequest(_))));
    }

    #[test]
    fn visitor_text_refuses_invisible_and_reordering_characters() {
        for odd in [
            '\u{202E}',
            '\u{202A}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200B}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{E007F}',
            '\u{E000}',
            '\u{F8FF}',
            '\u{F0000}',
            '\u{10FFFD}',
        ] {
            let text = format!("Ada{odd}gpj.exe");
            let refused = visitor_text("name", Some(&text), 40);
            assert!(
                matches!(&refused, Err(SuggestError::BadRequest(m)) if m.contains("invisible or text-direction")),
                "U+{:04X}: {refused:?}",
                u32::from(odd)
            );
        }
        // Emoji sequences and scripts that need the joiners, and accents, are words.
        for fine in ["👩\u{200D}💻 Ada", "می\u{200C}خواهم", "Zoë", "東京", "\u{05D0}\u{05D1}"] {
            assert_eq!(visitor_text("message", Some(fine), 140), Ok(Some(fine.to_owned())), "{fine}");
        }
    }

    #[test]
    fn odd_characters_are_shown_escaped_and_words_as_they_are() {
        assert_eq!(shown_escaped("Ada\u{202E}gpj.exe"), "Ada\\u{202e}gpj.exe");
        assert_eq!(shown_escaped("a\u{1b}[2Jb\u{E0041}"), "a\\u{001b}[2Jb\\u{e0041}");
        assert_eq!(shown_escaped("Zoë 👩\u{200D}💻"), "Zoë 👩\u{200D}💻");
    }

    #[test]
    fn queries_are_normalized_and_bounded() {
        assert_eq!(normalized_query("  Never   Gonna\tGive "), Ok("never gonna give".into()));
        assert!(normalized_query("   ").is_err());
        assert!(normalized_query(&"a".repeat(100)).is_ok());
        assert!(normalized_query(&"a".repeat(101)).is_err());
    }
}
