//! PLAIN's handshake commands (RFC 24): the client's HELLO with a user name and a
//! password, the server's empty WELCOME, then INITIATE and READY with metadata as in
//! NULL's READY.
//!
//! ```text
//! hello    = %d5 "HELLO" username password
//! username = OCTET 0*255username-char      ; length, then the name
//! password = OCTET 0*255password-char
//! welcome  = %d7 "WELCOME"
//! initiate = %d8 "INITIATE" metadata
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use zeroize::Zeroizing;

use super::command::{Command, CommandError};

/// A HELLO's credentials. The password is wiped from memory when dropped.
#[derive(Debug)]
pub struct Hello {
    /// The user name, as sent.
    pub username: Bytes,
    /// The password, as sent.
    pub password: Zeroizing<Vec<u8>>,
}

/// The HELLO command carrying these credentials (each at most 255 octets, checked
/// where they are configured: `Security::plain_client`).
pub fn hello(username: &[u8], password: &[u8]) -> Command {
    let (u, p) = (
        &username[..username.len().min(255)],
        &password[..password.len().min(255)],
    );
    let mut b = BytesMut::with_capacity(2 + u.len() + p.len());
    b.put_u8(u.len() as u8);
    b.put_slice(u);
    b.put_u8(p.len() as u8);
    b.put_slice(p);
    Command::Hello(b.freeze())
}

/// Parses a HELLO body (what follows the name): both fields, exactly.
pub fn parse_hello(body: &[u8]) -> Result<Hello, CommandError> {
    let (username, rest) = field(body, "HELLO without a user name")?;
    let (password, rest) = field(rest, "HELLO without a password")?;
    if !rest.is_empty() {
        return Err(CommandError("HELLO longer than its fields"));
    }
    Ok(Hello {
        username: Bytes::copy_from_slice(username),
        password: Zeroizing::new(password.to_vec()),
    })
}

/// libzmq's PLAIN ERROR, as libzmq 4.3 (and its sources since) sends it: its name is
/// written `"\x05ERROR"` in C, where `\x05E` is one escape, so the command starts
/// `0x5E "RROR"` instead of `0x05 "ERROR"`. A PLAIN client reads it as the ERROR it
/// means; `None` for any other body. (libzmq's PLAIN client, for the same reason,
/// reads only that form: to it, a correct ERROR is an unexpected command, and it
/// reports a failed handshake rather than a failed authentication.)
pub fn libzmq_error(body: &[u8]) -> Option<Command> {
    let rest = body.strip_prefix(b"\x5eRROR")?;
    let (reason, tail) = field(rest, "").ok()?;
    tail.is_empty()
        .then(|| Command::Error(Bytes::copy_from_slice(reason)))
}

/// A length-prefixed field and what follows it.
fn field<'a>(b: &'a [u8], what: &'static str) -> Result<(&'a [u8], &'a [u8]), CommandError> {
    let (&n, rest) = b.split_first().ok_or(CommandError(what))?;
    let n = usize::from(n);
    if rest.len() < n {
        return Err(CommandError(what));
    }
    Ok(rest.split_at(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips_and_is_exact() {
        let Command::Hello(body) = hello(b"admin", b"secret") else {
            unreachable!()
        };
        assert_eq!(&body[..], b"\x05admin\x06secret");
        let h = parse_hello(&body).unwrap();
        assert_eq!(
            (&h.username[..], &h.password[..]),
            (&b"admin"[..], &b"secret"[..])
        );
        let encoded = Command::Hello(body.clone()).encode();
        assert_eq!(&encoded[..], b"\x05HELLO\x05admin\x06secret");
        assert_eq!(Command::decode(encoded), Ok(Command::Hello(body)));
        // Empty credentials are two zero lengths.
        assert!(parse_hello(b"\x00\x00").is_ok());
        assert_eq!(
            libzmq_error(b"\x5eRROR\x03400"),
            Some(Command::Error(Bytes::from_static(b"400")))
        );
        assert_eq!(libzmq_error(b"\x05ERROR\x03400"), None);
        assert_eq!(libzmq_error(b"\x5eRROR\x04400"), None);
        for bad in [
            &b""[..],
            b"\x05adm",
            b"\x05admin",
            b"\x05admin\x07secret",
            b"\x05admin\x06secret!",
        ] {
            assert!(parse_hello(bad).is_err(), "{bad:?}");
        }
    }
}
