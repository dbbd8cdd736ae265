//! HTTP Basic authentication, as supervisord checks it: the configured
//! password is either plain text or `{SHA}` followed by the hex SHA-1 of the
//! password. Used by the server to check requests and by the client to build
//! its `Authorization` header.

use base64::Engine as _;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::config::Credentials;

/// The realm supervisord announces in `WWW-Authenticate`.
pub const REALM_HEADER: &str = "Basic realm=\"default\"";

/// The `Authorization` header value for `user` and `password`.
pub fn basic_header(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// Whether an `Authorization` header value carries `creds`.
pub fn authorized(creds: &Credentials, header: Option<&[u8]>) -> bool {
    let Some(header) = header.and_then(|h| std::str::from_utf8(h).ok()) else {
        return false;
    };
    let header = header.trim();
    let Some((scheme, token)) = header.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((user, password)) = decoded.split_once(':') else {
        return false;
    };
    same(user.as_bytes(), creds.username.as_bytes()) && password_matches(&creds.password, password)
}

/// Checks `given` against the configured `stored` password. supervisord
/// compares the lowercase hex SHA-1 of `given` with what follows `{SHA}`;
/// the stored hex may be in either case here.
pub fn password_matches(stored: &str, given: &str) -> bool {
    match stored.strip_prefix("{SHA}") {
        Some(hex) => {
            let mine = hex_lower(&Sha1::digest(given.as_bytes()));
            same(mine.as_bytes(), hex.trim().to_ascii_lowercase().as_bytes())
        }
        None => same(stored.as_bytes(), given.as_bytes()),
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `a == b`, in time that depends on neither the contents nor the
/// lengths: both sides are hashed to fixed-size digests first, which are
/// then compared in constant time.
fn same(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (Sha1::digest(a), Sha1::digest(b));
    bool::from(da.as_slice().ct_eq(db.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(p: &str) -> Credentials {
        Credentials {
            username: "user".into(),
            password: p.into(),
        }
    }

    #[test]
    fn plain_and_sha() {
        let h = basic_header("user", "123");
        assert!(authorized(&creds("123"), Some(h.as_bytes())));
        assert!(!authorized(&creds("1234"), Some(h.as_bytes())));
        // sha1("123")
        let sha = "{SHA}40bd001563085fc35165329ea1ff5c5ecbdbbeef";
        assert!(authorized(&creds(sha), Some(h.as_bytes())));
        let upper = format!("{{SHA}}{}", sha[5..].to_uppercase());
        assert!(authorized(&creds(&upper), Some(h.as_bytes())));
        assert!(!authorized(
            &creds(sha),
            Some(basic_header("user", "x").as_bytes())
        ));
        // The digest itself is not a password.
        assert!(!authorized(
            &creds(sha),
            Some(basic_header("user", &sha[5..]).as_bytes())
        ));
        // Right password, wrong user; a prefix or extension of either.
        assert!(!authorized(
            &creds("123"),
            Some(basic_header("usr", "123").as_bytes())
        ));
        assert!(!authorized(
            &creds("123"),
            Some(basic_header("user", "12").as_bytes())
        ));
        assert!(!authorized(
            &creds("123"),
            Some(basic_header("user", "1234").as_bytes())
        ));
        assert!(!authorized(
            &creds("123"),
            Some(basic_header("users", "123").as_bytes())
        ));
        // Empty password configured: only the empty password passes.
        assert!(authorized(
            &creds(""),
            Some(basic_header("user", "").as_bytes())
        ));
        assert!(!authorized(
            &creds(""),
            Some(basic_header("user", "x").as_bytes())
        ));
    }

    #[test]
    fn malformed_headers() {
        let c = creds("p");
        for h in [
            "",
            "Basic",
            "Basic !!!",
            "Bearer dXNlcjpw",
            "Basic dXNlcnA=", // "userp": no colon
        ] {
            assert!(!authorized(&c, Some(h.as_bytes())), "{h}");
        }
        assert!(!authorized(&c, None));
        assert!(!authorized(&c, Some(b"\xff\xfe")));
        assert!(authorized(&c, Some(b"basic  dXNlcjpw ")));
        // password may contain colons
        let c2 = creds("a:b");
        assert!(authorized(
            &c2,
            Some(basic_header("user", "a:b").as_bytes())
        ));
    }
}
