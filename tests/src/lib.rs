//! Helpers shared by the end-to-end tests and the processes they drive.
//!
//! `log-writer` (in `src/bin`) appends to a data directory and prints one line per
//! acknowledged record; [`Ack`] parses those lines, and [`value_id`] reads back the unique
//! id every value it writes starts with.
//!
//! [`admin`] creates topics with librdkafka's admin client; [`broker`] runs the real
//! `myelin` binary for the tests with third-party clients;
//! [`group_member`] parses what `group-member` (a consumer group member in its own process)
//! prints; [`proxy`] is a TCP proxy that cuts a client's connections mid-request;
//! [`process`] runs the third-party client programs, [`tls`] makes the certificates of the
//! TLS tests, and [`oauth`] plays the OAUTHBEARER tests' identity provider.

pub mod admin;
pub mod broker;
pub mod group_member;
pub mod oauth;
pub mod process;
pub mod proxy;
pub mod tls;

use std::fmt;

/// One acknowledged record, as `log-writer` prints it: `ack <partition> <offset> <crc>`,
/// where `crc` is the CRC-32C of the record's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ack {
    pub partition: i32,
    pub offset: i64,
    pub crc: u32,
}

impl Ack {
    /// Parses one line of `log-writer` output; None for anything else.
    pub fn parse(line: &str) -> Option<Ack> {
        let mut parts = line.split_ascii_whitespace();
        if parts.next()? != "ack" {
            return None;
        }
        let ack = Ack {
            partition: parts.next()?.parse().ok()?,
            offset: parts.next()?.parse().ok()?,
            crc: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(ack)
    }
}

impl fmt::Display for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ack {} {} {}", self.partition, self.offset, self.crc)
    }
}

/// The CRC an [`Ack`] carries for `value`.
pub fn value_crc(value: &[u8]) -> u32 {
    crc32c::crc32c(value)
}

/// The id a `log-writer` value starts with: `<run>:<partition>:<sequence>;`, unique across
/// restarts (the run is the process id and its start time).
pub fn value_id(value: &[u8]) -> Option<&str> {
    let end = value.iter().position(|b| *b == b';')?;
    std::str::from_utf8(&value[..end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_lines_round_trip() {
        let a = Ack {
            partition: 2,
            offset: 41,
            crc: value_crc(b"x"),
        };
        assert_eq!(Ack::parse(&a.to_string()), Some(a));
        assert_eq!(Ack::parse("ack 1 2"), None);
        assert_eq!(Ack::parse("ack 1 2 3 4"), None);
        assert_eq!(Ack::parse("nack 1 2 3"), None);
        assert_eq!(value_id(b"7-1:0:3;tail"), Some("7-1:0:3"));
        assert_eq!(value_id(b"no id"), None);
    }
}
