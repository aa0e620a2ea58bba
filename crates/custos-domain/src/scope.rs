//! OAuth scopes: space-separated tokens (RFC 6749 §3.3), kept in request order, without
//! duplicates.

/// Whether `token` is a valid scope token: printable ASCII except space, `"` and `\`.
pub fn is_valid_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Splits a scope string; `None` if any token is invalid.
pub fn parse(scope: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        if !is_valid_token(token) {
            return None;
        }
        if !out.iter().any(|t| t == token) {
            out.push(token.to_owned());
        }
    }
    Some(out)
}

pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

pub fn contains(scopes: &[String], wanted: &str) -> bool {
    scopes.iter().any(|s| s == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<&[&str]>) {
        let got = parse(input);
        let want = expected.map(|e| e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(got, want, "{input:?}");
    }

    #[test]
    fn parsing() {
        check("openid profile", Some(&["openid", "profile"]));
        check("  openid  openid ", Some(&["openid"]));
        check("", Some(&[]));
        check("read:users", Some(&["read:users"]));
        check("a\"b", None);
        check("a\\b", None);
        check("é", None);
        check("a\tb", None);
    }
}
