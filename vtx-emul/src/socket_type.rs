//! The eleven 0MQ socket types and the ZMTP 3.1 compatibility matrix.
//!
//! Sans-IO: no libzmq here; conversions to `zmq::SocketType` live in the runtime.

use std::fmt;

/// A 0MQ socket type, as named by ZMTP 3.1 (RFC 37 §3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SocketType {
    /// Exclusive pair.
    Pair,
    /// Publisher.
    Pub,
    /// Subscriber.
    Sub,
    /// Requester.
    Req,
    /// Replier.
    Rep,
    /// Asynchronous requester.
    Dealer,
    /// Asynchronous replier, addressing peers by identity.
    Router,
    /// Pipeline sink.
    Pull,
    /// Pipeline source.
    Push,
    /// Publisher that sees subscriptions.
    XPub,
    /// Subscriber that sends raw subscription messages.
    XSub,
}

impl SocketType {
    /// All eleven types, in libzmq's numbering order.
    pub const ALL: [SocketType; 11] = [
        SocketType::Pair,
        SocketType::Pub,
        SocketType::Sub,
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Pull,
        SocketType::Push,
        SocketType::XPub,
        SocketType::XSub,
    ];

    /// The name carried in the ZMTP `Socket-Type` property.
    pub fn name(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pull => "PULL",
            SocketType::Push => "PUSH",
            SocketType::XPub => "XPUB",
            SocketType::XSub => "XSUB",
        }
    }

    /// Parses a ZMTP `Socket-Type` property value (case-sensitive, as libzmq).
    pub fn from_name(name: &[u8]) -> Option<SocketType> {
        SocketType::ALL
            .into_iter()
            .find(|t| t.name().as_bytes() == name)
    }

    /// libzmq's numeric value (`ZMQ_PAIR` = 0 ... `ZMQ_XSUB` = 10), used on the wire by NOM-2.
    pub fn to_raw(self) -> u8 {
        self as u8
    }

    /// Inverse of [`SocketType::to_raw`].
    pub fn from_raw(raw: u8) -> Option<SocketType> {
        SocketType::ALL.get(usize::from(raw)).copied()
    }

    /// Whether a peering between `self` and `peer` is valid (RFC 37 §3.5; RFC 28, 29, 30, 31).
    pub fn compatible_with(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Pub | XPub, Sub | XSub)
                | (Sub | XSub, Pub | XPub)
                | (Push, Pull)
                | (Pull, Push)
                | (Pair, Pair)
        )
    }

    /// Whether this type sends messages to peers at all.
    pub fn sends(self) -> bool {
        !matches!(self, SocketType::Pull | SocketType::Sub)
    }

    /// Whether this type delivers peer messages to the application.
    pub fn receives(self) -> bool {
        !matches!(self, SocketType::Push | SocketType::Pub)
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_is_symmetric() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(a.compatible_with(b), b.compatible_with(a), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn matrix_matches_rfc37() {
        // RFC 37 §3.5: the number of valid pairs per type.
        let count = |t: SocketType| {
            SocketType::ALL
                .iter()
                .filter(|&&p| t.compatible_with(p))
                .count()
        };
        assert_eq!(count(SocketType::Req), 2);
        assert_eq!(count(SocketType::Dealer), 3);
        assert_eq!(count(SocketType::Pair), 1);
        assert!(!SocketType::Req.compatible_with(SocketType::Pub));
        assert!(!SocketType::Push.compatible_with(SocketType::Push));
    }

    #[test]
    fn names_and_raw_round_trip() {
        for t in SocketType::ALL {
            assert_eq!(SocketType::from_name(t.name().as_bytes()), Some(t));
            assert_eq!(SocketType::from_raw(t.to_raw()), Some(t));
        }
        assert_eq!(SocketType::from_name(b"req"), None);
        assert_eq!(SocketType::from_raw(11), None);
    }
}
