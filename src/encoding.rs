//! Encodings used everywhere, one implementation each: lowercase hex and the SHA-256
//! fingerprint (ring, the crate that already signs and hashes for us; no second SHA-256).

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// SHA-256 of `bytes`, lowercase hex (as `sha256sum` prints it).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// `text` safe to show on one line: every control character (newline, tab, escape
/// sequences a third-party message may carry from the input) becomes `?`.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `printable` line by line: the lines a message is made of stay (a pre-flight error lists
/// its failed checks one per line), anything else that could drive the terminal does not.
pub fn printable_lines(text: &str) -> String {
    text.split('\n')
        .map(printable)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn printable_text() {
        assert_eq!(printable("a\nb\tc\x1b[2Jd"), "a?b?c?[2Jd");
        assert_eq!(printable_lines("a\nb\tc\x1b[2J\r"), "a\nb?c?[2J?");
    }
}
