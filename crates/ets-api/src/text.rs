//! Text a client sends is refused before it reaches the database when it
//! carries a control character (NUL, a newline, DEL, the C1 controls) or a
//! bidirectional override or isolate, which makes a name read otherwise than
//! it is stored: 422 `invalid_text` (SPEC §7). PostgreSQL cannot store a NUL
//! at all, and a newline in a logged value would forge a log line. Checked
//! in a JSON body's strings, in a cursor, and in the decoded path and query.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::Problem;

/// Whether a character may not appear in any text a client sends.
#[must_use]
pub fn forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// 422 `invalid_text`, naming where.
pub(crate) fn invalid_text(place: &str) -> Problem {
    Problem::unprocessable(
        "invalid_text",
        format!("The {place} carries a control or bidirectional-override character."),
    )
}

/// Whether a JSON text has a forbidden character in one of its strings
/// (keys included), written as itself or as an escape (`\n`, `\u0000`). Whitespace
/// between tokens is JSON's own and allowed; text that is not UTF-8 is left
/// for the JSON parser to refuse.
#[must_use]
pub fn json_has_forbidden(raw: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(raw) else {
        return false;
    };
    let mut chars = text.chars();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if !in_string {
            in_string = c == '"';
            continue;
        }
        match c {
            '"' => in_string = false,
            '\\' => match chars.next() {
                // \b \f \n \r \t are control characters written short.
                Some('b' | 'f' | 'n' | 'r' | 't') => return true,
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let escaped = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                    if escaped.is_some_and(forbidden) {
                        return true;
                    }
                }
                _ => {}
            },
            other if forbidden(other) => return true,
            _ => {}
        }
    }
    false
}

/// A URI component with its `%XX` escapes (and, in a query, `+`) decoded,
/// as text (bytes that are not UTF-8 become U+FFFD).
fn decoded(component: &str, plus_is_space: bool) -> String {
    let bytes = component.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        let escape = (byte == b'%')
            .then(|| component.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(value) => {
                out.push(value);
                at += 3;
            }
            None => {
                out.push(if plus_is_space && byte == b'+' {
                    b' '
                } else {
                    byte
                });
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Middleware: a request whose decoded path or query carries a forbidden
/// character is answered 422 `invalid_text` before any handler runs.
pub(crate) async fn clean_uri(request: Request, next: Next) -> Response {
    let uri = request.uri();
    if decoded(uri.path(), false).chars().any(forbidden) {
        return invalid_text("path").into_response();
    }
    if uri
        .query()
        .is_some_and(|query| decoded(query, true).chars().any(forbidden))
    {
        return invalid_text("query").into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_found_in_json_strings_only() {
        for clean in [
            r#"{"name": "苏州 \"Quoted\" Steel\\Co", "n": 1}"#,
            "{\n\t\"name\": \"a\"\r\n}",
            r#"{"name": "\\u0000 is written, not a NUL"}"#,
            r#"{"name": "é \u00e9 \u4e2d"}"#,
        ] {
            assert!(!json_has_forbidden(clean.as_bytes()), "{clean}");
        }
        for dirty in [
            r#"{"client_id": "a\u0000b"}"#,
            r#"{"name": "line\nbreak"}"#,
            r#"{"name": "tab\u0009"}"#,
            "{\"name\": \"del\u{7f}\"}",
            "{\"name\": \"c1\u{85}\"}",
            "{\"name\": \"evil\u{202E}gnp.exe\"}",
            r#"{"name": "evil\u202egnp.exe"}"#,
            r#"{"name": "isolate\u2066"}"#,
            r#"{"ke\u0000y": "value"}"#,
        ] {
            assert!(json_has_forbidden(dirty.as_bytes()), "{dirty}");
        }
    }

    #[test]
    fn uri_components_are_decoded_before_the_check() {
        assert_eq!(decoded("a%20b+c", true), "a b c");
        assert_eq!(decoded("a%20b+c", false), "a b+c");
        assert_eq!(decoded("100%", false), "100%");
        assert!(decoded("%00", false).chars().any(forbidden));
        assert!(decoded("x%E2%80%AEy", false).chars().any(forbidden));
        assert!(!decoded("%E4%B8%AD", false).chars().any(forbidden));
    }
}
