//! The 64-byte ZMTP greeting (RFC 23 §2.3).

use std::fmt;

/// Size of a ZMTP 3.x greeting.
pub const GREETING_LEN: usize = 64;

/// A decoded greeting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Greeting {
    /// Major version (3 for ZMTP 3.x).
    pub major: u8,
    /// Minor version (1 for ZMTP 3.1).
    pub minor: u8,
    /// Security mechanism name (`NULL`, `PLAIN`, `CURVE`), without padding.
    pub mechanism: Vec<u8>,
    /// The as-server flag.
    pub as_server: bool,
}

/// Why a greeting was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GreetingError {
    /// Not a ZMTP signature (first byte not 0xFF, or bit 0 of byte 9 clear).
    BadSignature,
    /// ZMTP 1.0 or 2.0: not supported.
    UnsupportedVersion(u8),
    /// The mechanism field is not a valid name.
    BadMechanism,
}

impl fmt::Display for GreetingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GreetingError::BadSignature => f.write_str("not a ZMTP peer (bad signature)"),
            GreetingError::UnsupportedVersion(v) => write!(f, "unsupported ZMTP version {v}.x"),
            GreetingError::BadMechanism => f.write_str("malformed mechanism name"),
        }
    }
}

impl Greeting {
    /// Our greeting: ZMTP 3.1 with the given mechanism.
    pub fn new(mechanism: &[u8], as_server: bool) -> Greeting {
        Greeting {
            major: 3,
            minor: 1,
            mechanism: mechanism.to_vec(),
            as_server,
        }
    }

    /// Encodes the 64 bytes.
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        let mut g = [0u8; GREETING_LEN];
        g[0] = 0xFF;
        g[9] = 0x7F;
        g[10] = self.major;
        g[11] = self.minor;
        let n = self.mechanism.len().min(20);
        g[12..12 + n].copy_from_slice(&self.mechanism[..n]);
        g[32] = u8::from(self.as_server);
        g
    }

    /// Checks as much of a partial greeting as has arrived, so a non-ZMTP peer (a TLS
    /// ClientHello, an HTTP request) is refused at its first byte, not after 64.
    pub fn check_prefix(b: &[u8]) -> Result<(), GreetingError> {
        if b.first().is_some_and(|&x| x != 0xFF) || b.get(9).is_some_and(|&x| x & 1 == 0) {
            return Err(GreetingError::BadSignature);
        }
        match b.get(10) {
            Some(&major) if major < 3 => Err(GreetingError::UnsupportedVersion(major)),
            _ => Ok(()),
        }
    }

    /// Decodes a complete greeting.
    pub fn decode(b: &[u8; GREETING_LEN]) -> Result<Greeting, GreetingError> {
        Greeting::check_prefix(b)?;
        let field = &b[12..32];
        let end = field.iter().position(|&x| x == 0).unwrap_or(field.len());
        let (name, pad) = field.split_at(end);
        // RFC 23: the name is padded with zeros; printable ASCII only.
        if name.is_empty()
            || pad.iter().any(|&x| x != 0)
            || !name.iter().all(|c| c.is_ascii_graphic())
        {
            return Err(GreetingError::BadMechanism);
        }
        Ok(Greeting {
            major: b[10],
            minor: b[11],
            mechanism: name.to_vec(),
            as_server: b[32] != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let g = Greeting::new(b"NULL", false);
        assert_eq!(Greeting::decode(&g.encode()), Ok(g));
    }

    #[test]
    fn refuses_early() {
        assert_eq!(
            Greeting::check_prefix(&[0x16, 0x03]),
            Err(GreetingError::BadSignature)
        );
        assert_eq!(
            Greeting::check_prefix(b"GET / HTTP/1.1"),
            Err(GreetingError::BadSignature)
        );
        let mut g = Greeting::new(b"NULL", false).encode();
        g[10] = 2;
        assert_eq!(
            Greeting::check_prefix(&g[..11]),
            Err(GreetingError::UnsupportedVersion(2))
        );
        assert_eq!(Greeting::check_prefix(&g[..5]), Ok(()));
    }
}
