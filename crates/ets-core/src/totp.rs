//! One-time codes for the web console's people logins: RFC 6238 TOTP
//! (HMAC-SHA-1, 6 digits, 30-second steps, as every authenticator app
//! takes it) and RFC 4648 base32 for the secret in the `otpauth://` URI
//! that the enrolment QR code carries.
//!
//! Pure like the rest of the core: no clock, no randomness, no I/O. The
//! caller hands in the time (`DateTime<Utc>::timestamp()`, unix seconds)
//! and the secret's bytes (drawn by the caller from a system random source,
//! [`SECRET_BYTES`] of them), and stores the step that [`accept`] returns so
//! that each code is good for one login only.

use ring::hmac;

/// Digits in a code: 6, what authenticator apps show by default.
pub const DIGITS: u32 = 6;

/// Length of one time step in seconds: 30, the RFC 6238 default, so a code
/// changes twice a minute.
pub const STEP_SECONDS: i64 = 30;

/// Length of a secret in bytes: 20, the HMAC-SHA-1 output size that
/// RFC 4226 recommends (160 bits; 32 base32 characters).
pub const SECRET_BYTES: usize = 20;

/// 10^[`DIGITS`]: the modulus of the dynamic truncation.
const MODULUS: u32 = 10_u32.pow(DIGITS);

/// The RFC 4648 base32 alphabet.
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The time step (RFC 6238 `T`) that `unix_seconds` falls in: floor division
/// by [`STEP_SECONDS`], so times before 1970 round down too (-1 s is step
/// -1, not step 0), and every step is exactly 30 seconds long.
#[must_use]
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The code for `step` under `secret`: HMAC-SHA-1 of the step as an 8-byte
/// big-endian counter, cut down by RFC 4226 dynamic truncation to
/// [`DIGITS`] decimal digits, zero-padded (so "081804", never "81804"),
/// as the user reads it off the authenticator app.
#[must_use]
pub fn code(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    // The low four bits of the last byte pick where to read 31 bits from.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!("{:0width$}", binary % MODULUS, width = DIGITS as usize)
}

/// Checks a code the user typed at time `unix_seconds`; returns the step it
/// matched, which the caller stores as the new `last_used_step`, or `None`
/// if the code is refused.
///
/// `typed` must be exactly [`DIGITS`] ASCII digits once surrounding
/// whitespace is trimmed. It is accepted if it equals the code of the
/// current step or of one step either side (a phone clock off by up to
/// 30 seconds, or a code typed just as it changed), and only if that step
/// is strictly later than `last_used_step`: a code works once, and after a
/// newer code has been used an older one (still within the window) is
/// refused too, so a code seen over someone's shoulder cannot be replayed.
///
/// Codes are compared in constant time, so the response time does not tell
/// how many leading digits were right.
#[must_use]
pub fn accept(
    secret: &[u8],
    typed: &str,
    unix_seconds: i64,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let typed = typed.trim();
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_seconds);
    [now.checked_sub(1), Some(now), now.checked_add(1)]
        .into_iter()
        .flatten()
        .filter(|&step| last_used_step.is_none_or(|last| step > last))
        .find(|&step| same(code(secret, step).as_bytes(), typed.as_bytes()))
}

/// Whether `a` and `b` are equal, in time that depends only on their
/// lengths (which are public: both are [`DIGITS`] long), not on where they
/// first differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `bytes` in RFC 4648 base32 (alphabet A–Z, 2–7), without `=` padding, as
/// authenticator apps take the secret in an `otpauth://` URI.
#[must_use]
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u16 = 0;
    let mut bits: u32 = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[usize::from((buffer >> bits) & 0x1f)]));
        }
        // Keep only the bits not yet written, so the buffer never overflows.
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(
            ALPHABET[usize::from((buffer << (5 - bits)) & 0x1f)],
        ));
    }
    out
}

/// Decodes RFC 4648 base32, as a user or an older record may have written
/// it: letters in either case, `=` padding ignored. Any other character
/// (spaces included) gives `None`. Leftover bits that do not make a whole
/// byte at the end are dropped, as the encoding padded them with zeros.
#[must_use]
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u16 = 0;
    let mut bits: u32 = 0;
    for c in text.bytes() {
        let value = match c {
            b'=' => continue,
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u16::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    Some(out)
}

/// The `otpauth://` URI for enrolment (shown as a QR code): the account is
/// labelled `issuer:login` in the app, the secret is unpadded base32, and
/// the algorithm, digits and period are spelled out even though they are
/// the defaults, for apps that do not assume them. `issuer` and `login` are
/// percent-encoded (every byte outside `A–Z a–z 0–9 - . _ ~` as `%XX`), so
/// a login with spaces, `@`, `:` or `&` cannot break the URI.
#[must_use]
pub fn uri(issuer: &str, login: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    let login = percent_encode(login);
    let secret = base32(secret);
    format!(
        "otpauth://totp/{issuer}:{login}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
    )
}

/// `text` with every byte outside the URI unreserved set (RFC 3986:
/// `A–Z a–z 0–9 - . _ ~`) written as `%XX`, upper-case hex.
fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6238 Appendix B SHA-1 secret.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    /// A time inside step 37037037 (1111111110..=1111111139).
    const NOW: i64 = 1_111_111_111;

    #[test]
    fn codes_match_the_rfc_6238_sha1_vectors() {
        // RFC 6238 Appendix B gives 8 digits; ours are their last six.
        let vectors: [(i64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, eight) in vectors {
            let six = eight.get(2..).expect("eight digits");
            assert_eq!(code(RFC_SECRET, step_at(time)), six, "time {time}");
        }
    }

    #[test]
    fn steps_are_floor_divisions_by_thirty() {
        assert_eq!(step_at(0), 0);
        assert_eq!(step_at(29), 0);
        assert_eq!(step_at(30), 1);
        assert_eq!(step_at(59), 1);
        assert_eq!(step_at(1_111_111_109), 37_037_036);
        assert_eq!(step_at(NOW), 37_037_037);
        assert_eq!(step_at(-1), -1);
        assert_eq!(step_at(-30), -1);
        assert_eq!(step_at(-31), -2);
    }

    #[test]
    fn codes_are_zero_padded_and_all_digits() {
        // 07081804 above: the six-digit code starts with a zero.
        let early = code(RFC_SECRET, step_at(1_111_111_109));
        assert_eq!(early, "081804");
        for step in [-5, -1, 0, 1, i64::MAX, i64::MIN] {
            let c = code(RFC_SECRET, step);
            assert_eq!(c.len(), 6, "step {step}");
            assert!(c.bytes().all(|b| b.is_ascii_digit()), "step {step}");
        }
    }

    #[test]
    fn the_current_step_and_one_either_side_are_accepted() {
        let now = step_at(NOW);
        for step in [now - 1, now, now + 1] {
            let typed = code(RFC_SECRET, step);
            assert_eq!(accept(RFC_SECRET, &typed, NOW, None), Some(step));
            assert_eq!(accept(RFC_SECRET, &typed, NOW, Some(now - 2)), Some(step));
        }
    }

    #[test]
    fn two_steps_away_is_refused() {
        let now = step_at(NOW);
        for step in [now - 2, now + 2, now - 3, now + 3] {
            let typed = code(RFC_SECRET, step);
            assert_eq!(accept(RFC_SECRET, &typed, NOW, None), None, "step {step}");
        }
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        let typed = format!(" {}\n", code(RFC_SECRET, step_at(NOW)));
        assert_eq!(accept(RFC_SECRET, &typed, NOW, None), Some(step_at(NOW)));
    }

    #[test]
    fn a_code_works_once() {
        let typed = code(RFC_SECRET, step_at(NOW));
        let used = accept(RFC_SECRET, &typed, NOW, None).expect("first use");
        assert_eq!(accept(RFC_SECRET, &typed, NOW, Some(used)), None);
        // Still refused a few seconds later, in the next step's window.
        assert_eq!(accept(RFC_SECRET, &typed, NOW + 30, Some(used)), None);
    }

    #[test]
    fn an_older_step_is_refused_after_a_newer_one() {
        let now = step_at(NOW);
        let newer = code(RFC_SECRET, now + 1);
        let used = accept(RFC_SECRET, &newer, NOW, None).expect("newer code");
        assert_eq!(used, now + 1);
        for step in [now - 1, now] {
            let older = code(RFC_SECRET, step);
            assert_eq!(accept(RFC_SECRET, &older, NOW, Some(used)), None);
        }
    }

    #[test]
    fn anything_but_six_ascii_digits_is_refused() {
        let good = code(RFC_SECRET, step_at(NOW));
        assert_eq!(good, "050471");
        for typed in [
            "",
            "      ",
            "05047",        // five digits
            "0504710",      // seven digits
            "50471",        // the code without its leading zero
            "05047a",       // a letter
            "050 471",      // a space inside
            "+50471",       // a sign
            "０５０４７１", // full-width digits
            "050471x",
        ] {
            assert_eq!(accept(RFC_SECRET, typed, NOW, None), None, "{typed:?}");
        }
    }

    #[test]
    fn base32_matches_the_rfc_4648_vectors() {
        let vectors: [(&str, &str); 7] = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base32(plain.as_bytes()), encoded, "{plain:?}");
            assert_eq!(
                from_base32(encoded).expect("valid base32"),
                plain.as_bytes(),
                "{encoded:?}"
            );
        }
    }

    #[test]
    fn base32_decoding_ignores_case_and_padding() {
        assert_eq!(from_base32("mzxw6ytboi").expect("lower case"), b"foobar");
        assert_eq!(from_base32("MZXW6YQ=").expect("padded"), b"foob");
        assert_eq!(from_base32("MY======").expect("padded"), b"f");
        assert_eq!(from_base32("MzXq").expect("mixed case"), b"fo");
    }

    #[test]
    fn base32_decoding_refuses_other_characters() {
        for text in ["MZXW 6YQ", "MZXW1", "MZXW8", "MZXW0", "MZXW6-", "É"] {
            assert_eq!(from_base32(text), None, "{text:?}");
        }
    }

    #[test]
    fn base32_round_trips() {
        let every_byte: Vec<u8> = (0..=255).collect();
        for len in 0..=every_byte.len() {
            let bytes = every_byte.get(..len).expect("prefix");
            let text = base32(bytes);
            assert!(!text.contains('='));
            assert_eq!(from_base32(&text).expect("round trip"), bytes);
        }
        let secret: Vec<u8> = (1..=u8::try_from(SECRET_BYTES).expect("small")).collect();
        let text = base32(&secret);
        assert_eq!(text.len(), 32);
        assert_eq!(from_base32(&text).expect("round trip"), secret);
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn uri_percent_encodes_issuer_and_login() {
        let uri = uri("ETS Ledger", "Jane Doe@example.org", RFC_SECRET);
        assert_eq!(
            uri,
            "otpauth://totp/ETS%20Ledger:Jane%20Doe%40example.org\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ETS%20Ledger\
             &algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn uri_encodes_separators_and_non_ascii() {
        let uri = uri("a:b&c", "ü~-._/?", b"f");
        assert_eq!(
            uri,
            "otpauth://totp/a%3Ab%26c:%C3%BC~-._%2F%3F?secret=MY&issuer=a%3Ab%26c\
             &algorithm=SHA1&digits=6&period=30"
        );
    }
}
