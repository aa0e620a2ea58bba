//! Time as a dependency: code asks a [`Clock`], so tests can move time (code expiry, session
//! idle timeouts) without sleeping.

use crate::Millis;

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;

    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// The wall clock. The only place in Custos that reads it.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now_ms(&self) -> Millis {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }
}

/// An instant as ISO 8601 / RFC 3339 UTC with milliseconds (`2026-11-28T21:00:00.000Z`),
/// the format of Auth0's dates.
pub fn iso8601(ms: Millis) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        Err(_) => "1970-01-01T00:00:00.000Z".to_owned(),
    }
}

/// Parses an RFC 3339 date (as in a log search range) into [`Millis`].
pub fn parse_iso8601(text: &str) -> Option<Millis> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_795_900_000_123), "2026-11-28T21:06:40.123Z");
        assert_eq!(
            parse_iso8601("2026-11-28T21:06:40.123Z"),
            Some(1_795_900_000_123)
        );
        assert_eq!(parse_iso8601("yesterday"), None);
    }
}
