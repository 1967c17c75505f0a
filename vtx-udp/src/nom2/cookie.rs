//! Stateless address validation for OHAI (docs/nom-2.md §4.1), the way DTLS's
//! HelloVerifyRequest and QUIC's Retry do it: a server answers an OHAI from an address
//! it has not seen receive with a COOKIE, a keyed MAC of that address and the OHAI's
//! nonce, and keeps nothing. Only an OHAI that echoes a valid cookie (its sender
//! received the COOKIE at that address) gets a peering, an OHAI-OK or a ROTFL.
//!
//! The MAC is SipHash-2-4 with a 128-bit output (a PRF made for short inputs, as in
//! Linux's SYN cookies) under a secret key that is replaced every [`LIFETIME`]; a
//! cookie made under the previous key is still good, so a cookie lives between one
//! and two lifetimes. Keys come from the engine's seeded generator and time from the
//! caller, so a run is reproducible.

use std::hash::Hasher;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::Rng;
use siphasher::sip128::{Hasher128, SipHasher24};
use subtle::ConstantTimeEq;

use super::engine::LocalId;
use super::wire::{COOKIE_LEN, Cookie};

/// How long one key makes cookies.
pub(crate) const LIFETIME: Duration = Duration::from_secs(30);

/// The two newest cookie keys.
#[derive(Debug)]
pub(crate) struct CookieJar {
    /// The key making cookies now, and the one before it.
    keys: [[u8; 16]; 2],
    /// When `keys[0]` started.
    since: Instant,
}

impl CookieJar {
    pub(crate) fn new(rng: &mut impl Rng, now: Instant) -> CookieJar {
        CookieJar {
            keys: [rng.random(), rng.random()],
            since: now,
        }
    }

    /// Keys change on a fixed schedule from the jar's start, whenever asked: a
    /// cookie is good only until the end of the lifetime after the one it was made in.
    fn rotate(&mut self, rng: &mut impl Rng, now: Instant) {
        let age = now.saturating_duration_since(self.since);
        let lifetimes = (age.as_nanos() / LIFETIME.as_nanos()) as u32;
        if lifetimes == 0 {
            return;
        }
        self.keys[1] = if lifetimes == 1 {
            self.keys[0]
        } else {
            rng.random() // both keys are too old: nothing made under them is good
        };
        self.keys[0] = rng.random();
        self.since += LIFETIME * lifetimes;
    }

    /// The cookie for an OHAI with `nonce` from `src`, arriving on `local`.
    pub(crate) fn make(
        &mut self,
        rng: &mut impl Rng,
        now: Instant,
        local: LocalId,
        src: SocketAddr,
        nonce: u32,
    ) -> Cookie {
        self.rotate(rng, now);
        mac(&self.keys[0], local, src, nonce)
    }

    /// Whether `cookie` is one we made for this OHAI within the last two lifetimes.
    pub(crate) fn check(
        &mut self,
        rng: &mut impl Rng,
        now: Instant,
        local: LocalId,
        src: SocketAddr,
        nonce: u32,
        cookie: &Cookie,
    ) -> bool {
        self.rotate(rng, now);
        let ok = |key: &[u8; 16]| bool::from(mac(key, local, src, nonce).ct_eq(cookie));
        // Both are computed, so the time taken does not tell which key matched.
        let (a, b) = (ok(&self.keys[0]), ok(&self.keys[1]));
        a | b
    }
}

fn mac(key: &[u8; 16], local: LocalId, src: SocketAddr, nonce: u32) -> Cookie {
    let mut h = SipHasher24::new_with_key(key);
    h.write_u64(local as u64);
    let ip = match src.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    h.write(&ip.octets());
    h.write_u16(src.port());
    h.write_u32(nonce);
    let out: [u8; COOKIE_LEN] = h.finish128().as_bytes();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn a_cookie_is_bound_to_address_nonce_and_time() {
        let mut rng = StdRng::seed_from_u64(1);
        let t0 = Instant::now();
        let mut jar = CookieJar::new(&mut rng, t0);
        let src = addr("192.0.2.7:4000");
        let c = jar.make(&mut rng, t0, 0, src, 42);
        assert!(jar.check(&mut rng, t0, 0, src, 42, &c));
        assert!(!jar.check(&mut rng, t0, 0, addr("192.0.2.8:4000"), 42, &c));
        assert!(!jar.check(&mut rng, t0, 0, addr("192.0.2.7:4001"), 42, &c));
        assert!(!jar.check(&mut rng, t0, 0, src, 43, &c));
        assert!(!jar.check(&mut rng, t0, 1, src, 42, &c));
        assert!(!jar.check(&mut rng, t0, 0, src, 42, &[0; COOKIE_LEN]));
        // Good through the next key, gone after two lifetimes.
        assert!(jar.check(&mut rng, t0 + LIFETIME, 0, src, 42, &c));
        assert!(!jar.check(&mut rng, t0 + 2 * LIFETIME, 0, src, 42, &c));
    }

    #[test]
    fn keys_change_on_schedule_however_rarely_asked() {
        let mut rng = StdRng::seed_from_u64(3);
        let t0 = Instant::now();
        let mut jar = CookieJar::new(&mut rng, t0);
        let src = addr("192.0.2.9:1");
        // Made late in the first lifetime, checked late in the second: still good;
        // early in the third: gone, though no one asked in between.
        let late = LIFETIME - Duration::from_millis(1);
        let c = jar.make(&mut rng, t0 + late, 0, src, 1);
        assert!(jar.check(&mut rng, t0 + LIFETIME + late, 0, src, 1, &c));
        assert!(!jar.check(&mut rng, t0 + 2 * LIFETIME, 0, src, 1, &c));
    }

    #[test]
    fn an_idle_jar_forgets_both_keys() {
        let mut rng = StdRng::seed_from_u64(2);
        let t0 = Instant::now();
        let mut jar = CookieJar::new(&mut rng, t0);
        let src = addr("[2001:db8::1]:9");
        let c = jar.make(&mut rng, t0, 3, src, 7);
        assert!(!jar.check(&mut rng, t0 + 5 * LIFETIME, 3, src, 7, &c));
    }
}
