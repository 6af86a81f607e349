//! Undoing the header escapes of STOMP 1.1 and 1.2.

use super::encoder::EscapeMode;
use super::DecodeError;

/// Replaces the escape sequences of `mode` in `raw`.
///
/// STOMP 1.1 knows `\n`, `\c` and `\\`; 1.2 also `\r`. Any other backslash sequence, or a
/// backslash at the end, is an error. With [`EscapeMode::None`] the text is returned as is.
pub(crate) fn unescape(raw: &str, mode: EscapeMode) -> Result<String, DecodeError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = memchr::memchr(b'\\', rest.as_bytes()) {
        out.push_str(&rest[..at]);
        let replacement = match (rest.as_bytes().get(at + 1), mode) {
            (_, EscapeMode::None) => {
                out.push('\\');
                rest = &rest[at + 1..];
                continue;
            }
            (Some(b'n'), _) => '\n',
            (Some(b'c'), _) => ':',
            (Some(b'\\'), _) => '\\',
            (Some(b'r'), EscapeMode::V1_2) => '\r',
            _ => return Err(DecodeError::InvalidEscape),
        };
        out.push(replacement);
        // The escape is two ASCII bytes, so `at + 2` is a character boundary.
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_per_version() {
        use EscapeMode::{None as Raw, V1_1, V1_2};
        let cases: &[(&str, EscapeMode, Result<&str, DecodeError>)] = &[
            ("plain", V1_2, Ok("plain")),
            ("a\\nb", V1_2, Ok("a\nb")),
            ("a\\cb", V1_2, Ok("a:b")),
            ("a\\\\b", V1_2, Ok("a\\b")),
            ("a\\rb", V1_2, Ok("a\rb")),
            ("\\n\\c\\\\\\r", V1_2, Ok("\n:\\\r")),
            ("a\\nb\\c", V1_1, Ok("a\nb:")),
            ("a\\rb", V1_1, Err(DecodeError::InvalidEscape)),
            ("a\\tb", V1_2, Err(DecodeError::InvalidEscape)),
            ("a\\", V1_2, Err(DecodeError::InvalidEscape)),
            ("\\é", V1_2, Err(DecodeError::InvalidEscape)),
            ("é\\cé", V1_2, Ok("é:é")),
            ("a\\tb\\", Raw, Ok("a\\tb\\")),
        ];
        for (raw, mode, expected) in cases {
            assert_eq!(
                unescape(raw, *mode).as_deref(),
                expected.as_deref(),
                "{raw:?} {mode:?}"
            );
        }
    }
}
