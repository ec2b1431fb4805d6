//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP, HMAC-SHA-1, 6 digits,
//! 30-second steps): the defaults every authenticator app understands.

use data_encoding::BASE32_NOPAD;
use hmac::{KeyInit, Mac};

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;

/// The time step a Unix time falls in.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The code of one time step.
pub fn code(secret: &[u8], step: i64) -> u32 {
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret) else {
        // HMAC takes keys of any length.
        return 0;
    };
    mac.update(&(step as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    // Dynamic truncation (RFC 4226 §5.3).
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    value % 10u32.pow(DIGITS)
}

/// Which step of `[current - 1, current + 1]` (clock drift of one step either way) a typed
/// code belongs to, checked in constant time per candidate.
pub fn matching_step(secret: &[u8], typed: &str, current: i64) -> Option<i64> {
    let typed: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    (current - 1..=current + 1).find(|&step| {
        let expected = format!("{:0width$}", code(secret, step), width = DIGITS as usize);
        crate::constant_time_eq(expected.as_bytes(), typed.as_bytes())
    })
}

/// The secret as people type it into an app: base32 in groups of four.
pub fn display_secret(secret: &[u8]) -> String {
    let encoded = BASE32_NOPAD.encode(secret);
    encoded
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The secret back from its displayed form (spaces and case ignored).
pub fn parse_secret(displayed: &str) -> Option<Vec<u8>> {
    let compact: String = displayed
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    BASE32_NOPAD.decode(compact.as_bytes()).ok()
}

/// The `otpauth://` URI an authenticator app reads from a QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let label: String = form_encode(&format!("{issuer}:{account}"));
    format!(
        "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        BASE32_NOPAD.encode(secret),
        form_encode(issuer)
    )
}

/// Percent-encode everything but unreserved characters (RFC 3986).
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 column (8-digit values, of which we keep the last six).
    #[test]
    fn rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight_digits) in [
            (59_i64, 94_287_082_u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(
                code(secret, step_at(time)),
                eight_digits % 1_000_000,
                "time {time}"
            );
        }
    }

    #[test]
    fn codes_match_within_one_step_of_drift() {
        let secret = b"12345678901234567890";
        let now = step_at(1_234_567_890);
        let typed = format!("{:06}", code(secret, now - 1));
        assert_eq!(matching_step(secret, &typed, now), Some(now - 1));
        let spaced = format!("{} {}", &typed[..3], &typed[3..]);
        assert_eq!(matching_step(secret, &spaced, now), Some(now - 1));
        let old = format!("{:06}", code(secret, now - 2));
        assert_eq!(matching_step(secret, &old, now), None);
        assert_eq!(matching_step(secret, "12345", now), None);
        assert_eq!(matching_step(secret, "abcdef", now), None);
    }

    #[test]
    fn uri_names_issuer_and_account() {
        let uri = otpauth_uri("Passage", "amara k", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Passage%3Aamara%20k?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Passage&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(display_secret(b"12345"), "GEZD GNBV");
        assert_eq!(parse_secret("gezd gnbv").as_deref(), Some(&b"12345"[..]));
    }
}
