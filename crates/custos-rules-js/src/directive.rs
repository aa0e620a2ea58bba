//! The network allow-list a script declares in its own text, so that it travels with the code
//! (Management API, versions, the CLI harness, code review):
//!
//! ```js
//! // @custos-allow-https api.example.com, hooks.slack.com
//! // @custos-allow-https billing.example.com:8443
//! ```
//!
//! A directive is a line of its own whose first characters (after white space) are `//`, then
//! optional white space, then `@custos-allow-https`, then white space and one or more hosts
//! separated by commas and/or spaces. A host is an exact DNS name, lower-cased here, with an
//! optional `:port` (443 when left out). Wildcards, IP addresses, schemes, paths and
//! credentials are refused, so a malformed directive is an error (at save time, and a failure
//! at run time), never a silently smaller or larger list. No directive, no network: the script
//! gets no `fetch` at all.

use std::net::Ipv4Addr;

/// The directive's name.
pub const DIRECTIVE: &str = "@custos-allow-https";

/// The HTTPS hosts a script declared, as `host` or `host:port` (the port only when it is not
/// 443), each once, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    hosts: Vec<String>,
}

/// A directive that cannot be used. Lines and columns count from 1, in the script as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{DIRECTIVE} (line {line}, column {column}): {message}")]
pub struct DirectiveError {
    pub message: String,
    pub line: u32,
    pub column: u32,
}

impl AllowList {
    /// The hosts declared by every directive in `script`.
    pub fn parse(script: &str) -> Result<Self, DirectiveError> {
        let mut hosts: Vec<String> = Vec::new();
        // Every execution parses its script; most declare nothing.
        if !script.contains(DIRECTIVE) {
            return Ok(Self { hosts });
        }
        for (index, line) in script.split('\n').enumerate() {
            let line_number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let Some(list) = directive_list(line) else {
                continue;
            };
            let at = |offset: usize, message: String| DirectiveError {
                message,
                line: line_number,
                column: column(line, offset),
            };
            let mut named = false;
            for (offset, entry) in entries(line, list) {
                named = true;
                let host = host(entry).map_err(|why| at(offset, format!("'{entry}': {why}")))?;
                if !hosts.contains(&host) {
                    hosts.push(host);
                }
            }
            if !named {
                return Err(at(
                    list,
                    "names no host; write the hosts after it, separated by commas".to_owned(),
                ));
            }
        }
        Ok(Self { hosts })
    }

    /// The declared hosts, normalised.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// Whether the script declared no host.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Whether `authority` (`host`, or `host:port` for a port other than 443, lower-case, as a
    /// parsed URL gives it) was declared.
    pub fn permits(&self, authority: &str) -> bool {
        self.hosts.iter().any(|host| host == authority)
    }
}

/// For a directive line, the byte offset in `line` where its list of hosts starts.
fn directive_list(line: &str) -> Option<usize> {
    let code = line.trim_start();
    let comment = code.strip_prefix("//")?.trim_start();
    let rest = comment.strip_prefix(DIRECTIVE)?;
    // `@custos-allow-httpsx` is another word, not this directive.
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    Some(line.len() - rest.len())
}

/// The entries of the list starting at byte `start` of `line`, with their byte offsets.
fn entries(line: &str, start: usize) -> impl Iterator<Item = (usize, &str)> {
    let separator = |c: char| c == ',' || c.is_whitespace();
    let mut offset = start;
    line[start..]
        .split(separator)
        .map(move |entry| {
            let at = offset;
            // Every separator is one character; step over the entry and the separator after it.
            offset += entry.len()
                + line[at + entry.len()..]
                    .chars()
                    .next()
                    .map_or(0, char::len_utf8);
            (at, entry)
        })
        .filter(|(_, entry)| !entry.is_empty())
}

/// The 1-based column (in characters) of byte `offset` of `line`.
fn column(line: &str, offset: usize) -> u32 {
    let before = line.get(..offset).map_or(0, |text| text.chars().count());
    u32::try_from(before + 1).unwrap_or(u32::MAX)
}

/// One entry, checked and normalised.
fn host(entry: &str) -> Result<String, &'static str> {
    if !entry.is_ascii() {
        return Err("write an internationalised name in its ASCII (xn--) form");
    }
    let entry = entry.to_ascii_lowercase();
    if entry.contains("://") || entry.starts_with("https:") || entry.starts_with("http:") {
        return Err("write the host alone, without a scheme (HTTPS is implied)");
    }
    if entry.contains('*') {
        return Err("wildcards are not allowed; name each host");
    }
    if entry.contains(['/', '?', '#', '@', '\\']) {
        return Err("write the host alone, without a path, query or credentials");
    }
    if entry.starts_with('[') {
        return Err("IP addresses are not allowed; name the host");
    }
    let (name, port) = match entry.split_once(':') {
        None => (entry.as_str(), None),
        Some((name, port)) => (name, Some(port)),
    };
    let port = match port {
        None => None,
        Some(port) => {
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err("the port must be a number (one colon, no IPv6 addresses)");
            }
            match port.parse::<u16>() {
                Ok(0) | Err(_) => return Err("the port must be between 1 and 65535"),
                Ok(443) => None,
                Ok(port) => Some(port),
            }
        }
    };
    if name.is_empty() {
        return Err("the host name is empty");
    }
    if name.len() > 253 {
        return Err("the host name is longer than 253 characters");
    }
    if name.parse::<Ipv4Addr>().is_ok() || name.rsplit('.').next().is_some_and(numeric) {
        return Err("IP addresses are not allowed; name the host");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("the host name has an empty label (a leading, trailing or double dot)");
        }
        if label.len() > 63 {
            return Err("a label of the host name is longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("a host name has only letters, digits, hyphens and dots");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label of the host name starts or ends with a hyphen");
        }
    }
    Ok(match port {
        None => name.to_owned(),
        Some(port) => format!("{name}:{port}"),
    })
}

/// Whether a last label makes URL parsers read the host as an IPv4 address (`10.1`, `0x7f.1`).
fn numeric(label: &str) -> bool {
    let digits =
        |text: &str, radix: u32| !text.is_empty() && text.chars().all(|c| c.is_digit(radix));
    digits(label, 10)
        || label
            .strip_prefix("0x")
            .is_some_and(|hex| hex.is_empty() || digits(hex, 16))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn hosts(script: &str) -> Vec<String> {
        AllowList::parse(script).unwrap().hosts().to_vec()
    }

    #[test]
    fn directives_declare_hosts() {
        let cases: [(&str, &[&str]); 12] = [
            ("function (u, c, cb) { cb(null, u, c); }", &[]),
            ("// @custos-allow-https api.example.com", &["api.example.com"]),
            (
                "// @custos-allow-https api.example.com, hooks.slack.com",
                &["api.example.com", "hooks.slack.com"],
            ),
            (
                "  //@custos-allow-https  a.example ,b.example   c.example,,",
                &["a.example", "b.example", "c.example"],
            ),
            ("// @custos-allow-https API.Example.COM", &["api.example.com"]),
            (
                "// @custos-allow-https api.example.com:8443 api.example.com:443",
                &["api.example.com:8443", "api.example.com"],
            ),
            (
                "// @custos-allow-https a.example\nexports.x = 1;\n\t// @custos-allow-https b.example a.example\r\n",
                &["a.example", "b.example"],
            ),
            ("// @custos-allow-https localhost:3000", &["localhost:3000"]),
            ("// @custos-allow-https xn--bcher-kva.example", &["xn--bcher-kva.example"]),
            // Not directives: another word, text after code, block comments' own syntax.
            ("// @custos-allow-httpsx evil.example", &[]),
            ("fetch(x); // @custos-allow-https evil.example", &[]),
            ("/* @custos-allow-https evil.example */", &[]),
        ];
        for (script, expected) in cases {
            assert_eq!(hosts(script), expected, "{script:?}");
        }
    }

    #[test]
    fn malformed_directives_are_errors_with_their_position() {
        let cases: [(&str, &str, u32, u32); 14] = [
            ("// @custos-allow-https", "names no host", 1, 23),
            ("x\n// @custos-allow-https , ,", "names no host", 2, 23),
            ("// @custos-allow-https *.example.com", "wildcards", 1, 24),
            (
                "// @custos-allow-https https://api.example.com",
                "without a scheme",
                1,
                24,
            ),
            (
                "// @custos-allow-https api.example.com/v1",
                "without a path",
                1,
                24,
            ),
            (
                "// @custos-allow-https user@api.example.com",
                "credentials",
                1,
                24,
            ),
            (
                "// @custos-allow-https ok.example 127.0.0.1",
                "IP addresses",
                1,
                35,
            ),
            ("// @custos-allow-https [::1]:443", "IP addresses", 1, 24),
            (
                "// @custos-allow-https ::1",
                "the port must be a number",
                1,
                24,
            ),
            ("// @custos-allow-https 0x7f.1", "IP addresses", 1, 24),
            (
                "// @custos-allow-https api.example.com:0",
                "between 1 and 65535",
                1,
                24,
            ),
            (
                "// @custos-allow-https api.example.com.",
                "empty label",
                1,
                24,
            ),
            ("// @custos-allow-https bücher.example", "xn--", 1, 24),
            ("// @custos-allow-https -a.example", "hyphen", 1, 24),
        ];
        for (script, expected, line, column) in cases {
            let error = AllowList::parse(script).unwrap_err();
            assert!(error.message.contains(expected), "{script:?}: {error}");
            assert_eq!(
                (error.line, error.column),
                (line, column),
                "{script:?}: {error}"
            );
        }
    }

    #[test]
    fn permits_exact_authorities_only() {
        let list =
            AllowList::parse("// @custos-allow-https api.example.com, b.example:8443").unwrap();
        assert!(list.permits("api.example.com"));
        assert!(list.permits("b.example:8443"));
        for denied in [
            "b.example",
            "api.example.com:8443",
            "x.api.example.com",
            "example.com",
        ] {
            assert!(!list.permits(denied), "{denied}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(script in any::<String>()) {
            let _ = AllowList::parse(&script);
        }

        #[test]
        fn never_panics_on_directive_like_text(
            prefix in "[ \t]{0,3}//[ \t]{0,2}",
            list in r"[a-zA-Z0-9.:,\-\[\]*/@ \t\u{e9}\u{2028}]{0,40}",
            tail in any::<String>(),
        ) {
            let script = format!("{prefix}{DIRECTIVE} {list}\n{tail}");
            if let Ok(parsed) = AllowList::parse(&script) {
                // What is accepted is normalised: lower-case, no scheme, no wildcard.
                for host in parsed.hosts() {
                    prop_assert!(!host.is_empty());
                    prop_assert_eq!(host.to_ascii_lowercase(), host.clone());
                    prop_assert!(!host.contains(['*', '/', '@', '[', ',', ' ']));
                }
            }
        }
    }
}
