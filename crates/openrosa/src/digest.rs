//! HTTP Digest authentication (RFC 2617, MD5, `qop=auth`) as ODK Collect speaks it. Only
//! the arithmetic and the header syntax live here; nonces are made and checked by the
//! caller, who holds the key.

use md5::{Digest as _, Md5};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

/// HA1 = MD5(username:realm:password): what a server keeps instead of the password.
pub fn ha1(username: &str, realm: &str, password: &str) -> String {
    md5_hex(format!("{username}:{realm}:{password}").as_bytes())
}

/// The `Authorization: Digest …` fields a client sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
}

/// Parse `Digest k="v", k=v, …` (quoted strings may hold commas and escaped quotes).
pub fn parse_authorization(header: &str) -> Option<Credentials> {
    let rest = header.trim();
    let rest = rest
        .strip_prefix("Digest ")
        .or_else(|| rest.strip_prefix("digest "))?;
    let mut c = Credentials::default();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(ch) = chars.next() {
                match ch {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    _ => value.push(ch),
                }
            }
        } else {
            while let Some(ch) = chars.peek() {
                if *ch == ',' {
                    break;
                }
                value.push(*ch);
                chars.next();
            }
        }
        let value = value.trim().to_owned();
        match key.trim().to_ascii_lowercase().as_str() {
            "username" => c.username = value,
            "realm" => c.realm = value,
            "nonce" => c.nonce = value,
            "uri" => c.uri = value,
            "response" => c.response = value.to_ascii_lowercase(),
            "qop" => c.qop = Some(value),
            "nc" => c.nc = Some(value),
            "cnonce" => c.cnonce = Some(value),
            "opaque" => c.opaque = Some(value),
            _ => {}
        }
    }
    (!c.username.is_empty() && !c.nonce.is_empty() && !c.response.is_empty()).then_some(c)
}

/// The response a client holding HA1 must have computed for `method` on `c.uri`.
pub fn expected_response(ha1: &str, method: &str, c: &Credentials) -> String {
    let ha2 = md5_hex(format!("{method}:{}", c.uri).as_bytes());
    match (&c.qop, &c.nc, &c.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => {
            md5_hex(format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", c.nonce).as_bytes())
        }
        _ => md5_hex(format!("{ha1}:{}:{ha2}", c.nonce).as_bytes()),
    }
}

/// The `WWW-Authenticate` challenge.
pub fn challenge(realm: &str, nonce: &str, opaque: &str, stale: bool) -> String {
    let stale = if stale { ", stale=true" } else { "" };
    format!(
        "Digest realm=\"{realm}\", qop=\"auth\", nonce=\"{nonce}\", opaque=\"{opaque}\", algorithm=MD5{stale}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_example() {
        // RFC 2617 §3.5: Mufasa / "Circle Of Life".
        let header = r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let c = parse_authorization(header).unwrap();
        assert_eq!(c.username, "Mufasa");
        assert_eq!(c.uri, "/dir/index.html");
        let ha1 = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(expected_response(&ha1, "GET", &c), c.response);
        assert_ne!(expected_response(&ha1, "POST", &c), c.response);
    }

    #[test]
    fn odd_headers_do_not_parse_into_credentials() {
        assert!(parse_authorization("Basic QWxhZGRpbjpvcGVu").is_none());
        assert!(parse_authorization("Digest ").is_none());
        assert!(parse_authorization("Digest username=\"a\"").is_none());
        let c = parse_authorization(r#"Digest username="a\"b,c", nonce=n, response=R"#).unwrap();
        assert_eq!(c.username, "a\"b,c");
        assert_eq!(c.response, "r");
    }
}
