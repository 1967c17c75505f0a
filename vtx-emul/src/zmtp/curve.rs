//! CURVE (RFC 25 over CurveZMQ, RFC 26): the handshake and the MESSAGE boxes, byte for
//! byte as libzmq has them, on RustCrypto's `crypto_box` (X25519, XSalsa20-Poly1305).
//!
//! ```text
//! C: HELLO    = %d5 "HELLO" version(1.0) 72*%x00 C' nonce8 Box[64*%x00](C'->S)
//! S: WELCOME  = %d7 "WELCOME" nonce16 Box[S' cookie](S->C')
//!    cookie   = nonce16 SecretBox[C' s'](K)          ; K: this handshake's own key
//! C: INITIATE = %d8 "INITIATE" cookie nonce8 Box[C vouch metadata](C'->S')
//!    vouch    = nonce16 Box[C' S](C->S')
//! S: READY    = %d5 "READY" nonce8 Box[metadata](S'->C')
//! traffic     = %d7 "MESSAGE" nonce8 Box[flags data](C'->S' or S'->C')
//! ```
//!
//! Randomness (transient keys, long nonces, the cookie key) comes from a ChaCha20
//! generator seeded by the caller: the runtime seeds each handshake from the operating
//! system, tests and fuzzers from fixed seeds, so a run can be replayed.
//!
//! Short nonces are counters (big-endian, from 1, one per box sent); a box whose nonce
//! is not above the last one received is refused, so nothing replays. Transient keys,
//! the cookie key and every secret here are wiped from memory when dropped (the
//! `crypto_box` keys zeroize themselves; byte copies are `Zeroizing`). Every command
//! has a fixed or bounded size, checked before anything is opened.

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::{Aead, AeadCore, AeadInPlace, KeyInit, Payload};
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use crypto_secretbox::XSalsa20Poly1305;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use zeroize::Zeroizing;

use super::command::CommandError;

/// Size of a Curve25519 key.
pub const KEY: usize = 32;
/// The MAC a box adds.
const MAC: usize = 16;
/// HELLO's body after its name: version, padding, C', nonce, signature box.
const HELLO_BODY: usize = 2 + 72 + KEY + 8 + (64 + MAC);
/// WELCOME's body after its name.
const WELCOME_BODY: usize = 16 + (KEY + COOKIE + MAC);
/// A cookie: its nonce and the box of C' and s'.
const COOKIE: usize = 16 + (2 * KEY + MAC);
/// A vouch: its nonce and the box of C' and S.
const VOUCH: usize = 16 + (2 * KEY + MAC);
/// INITIATE's body after its name, without metadata.
const INITIATE_MIN: usize = COOKIE + 8 + (KEY + VOUCH + MAC);
/// The smallest MESSAGE body after its name: nonce, MAC and the flags octet.
const MESSAGE_MIN: usize = 8 + MAC + 1;

/// What a MESSAGE box adds to a frame: its name, nonce, MAC and flags.
pub const OVERHEAD: u64 = (8 + MESSAGE_MIN) as u64;

/// MESSAGE's flags octet (inside the box): more frames follow.
pub const FLAG_MORE: u8 = 0x01;
/// MESSAGE's flags octet: the frame is a ZMTP command.
pub const FLAG_COMMAND: u8 = 0x02;

/// Why a CURVE command was refused.
fn bad(what: &'static str) -> CommandError {
    CommandError(what)
}

fn nonce24(prefix: &[u8], tail: &[u8]) -> GenericArray<u8, <SalsaBox as AeadCore>::NonceSize> {
    let mut n = [0u8; 24];
    n[..prefix.len()].copy_from_slice(prefix);
    n[prefix.len()..].copy_from_slice(tail);
    n.into()
}

fn random16(rng: &mut ChaCha20Rng) -> [u8; 16] {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b
}

/// A secret key from the generator (X25519 clamps whatever 32 bytes it is given).
fn secret_from(rng: &mut ChaCha20Rng) -> SecretKey {
    let mut b = Zeroizing::new([0u8; KEY]);
    rng.fill_bytes(b.as_mut());
    SecretKey::from_bytes(*b)
}

fn seal(b: &SalsaBox, prefix: &[u8], tail: &[u8], plain: &[u8]) -> Vec<u8> {
    let nonce = nonce24(prefix, tail);
    // Encrypting into a Vec cannot fail (no length limit is near).
    b.encrypt(
        &nonce,
        Payload {
            msg: plain,
            aad: b"",
        },
    )
    .unwrap_or_default()
}

fn open(
    b: &SalsaBox,
    prefix: &[u8],
    tail: &[u8],
    boxed: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, CommandError> {
    let nonce = nonce24(prefix, tail);
    b.decrypt(
        &nonce,
        Payload {
            msg: boxed,
            aad: b"",
        },
    )
    .map(Zeroizing::new)
    .map_err(|_| bad(what))
}

fn key_of(b: &[u8]) -> [u8; KEY] {
    let mut k = [0u8; KEY];
    k.copy_from_slice(&b[..KEY]);
    k
}

/// The key pair whose secret key is these 32 random bytes: (public, secret).
pub fn keypair_from(random: [u8; KEY]) -> ([u8; KEY], Zeroizing<[u8; KEY]>) {
    let random = Zeroizing::new(random);
    let secret = SecretKey::from_bytes(*random);
    (
        *secret.public_key().as_bytes(),
        Zeroizing::new(secret.to_bytes()),
    )
}

/// The public key of a secret key.
pub fn public_of(secret: &[u8; KEY]) -> [u8; KEY] {
    *SecretKey::from_bytes(*secret).public_key().as_bytes()
}

/// One side's short-nonce counters and the box of the two transient keys: what traffic
/// needs once the handshake is done.
pub struct Traffic {
    session: SalsaBox,
    /// Our next short nonce.
    nonce: u64,
    /// The highest short nonce received.
    peer_nonce: u64,
    /// `CurveZMQMESSAGEC` from a client, `...S` from a server.
    ours: &'static [u8; 16],
    theirs: &'static [u8; 16],
}

impl std::fmt::Debug for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traffic")
            .field("nonce", &self.nonce)
            .field("peer_nonce", &self.peer_nonce)
            .finish_non_exhaustive()
    }
}

impl Traffic {
    fn new(session: SalsaBox, nonce: u64, peer_nonce: u64, client: bool) -> Traffic {
        let (c, s) = (b"CurveZMQMESSAGEC", b"CurveZMQMESSAGES");
        Traffic {
            session,
            nonce,
            peer_nonce,
            ours: if client { c } else { s },
            theirs: if client { s } else { c },
        }
    }

    fn next_nonce(&mut self) -> [u8; 8] {
        let n = self.nonce;
        self.nonce += 1;
        n.to_be_bytes()
    }

    /// A MESSAGE command's body (name included) carrying one frame.
    pub fn seal(&mut self, flags: u8, data: &[u8]) -> Bytes {
        let short = self.next_nonce();
        // name, nonce, MAC, then the box's plaintext, encrypted where it lies: one
        // allocation and one copy of the frame.
        let mut b = BytesMut::with_capacity(8 + 8 + MAC + 1 + data.len());
        b.put_slice(b"\x07MESSAGE");
        b.put_slice(&short);
        b.put_bytes(0, MAC);
        b.put_u8(flags);
        b.put_slice(data);
        let nonce = nonce24(self.ours, &short);
        match self
            .session
            .encrypt_in_place_detached(&nonce, b"", &mut b[16 + MAC..])
        {
            Ok(tag) => b[16..16 + MAC].copy_from_slice(&tag),
            // Cannot happen (XSalsa20's limit is 2^70 octets), and if it did the frame
            // would still not go out in clear: zeros, which the peer refuses.
            Err(_) => b[16..].fill(0),
        }
        b.freeze()
    }

    /// Opens a MESSAGE frame body: the flags and the frame. Refuses anything else, a
    /// nonce not above the last, and a box that does not open.
    pub fn open(&mut self, body: &[u8]) -> Result<(u8, Bytes), CommandError> {
        let rest = body
            .strip_prefix(b"\x07MESSAGE")
            .ok_or(bad("CURVE traffic that is not a MESSAGE"))?;
        if rest.len() < MESSAGE_MIN {
            return Err(bad("CURVE MESSAGE too short"));
        }
        let (short, boxed) = rest.split_at(8);
        let n = u64::from_be_bytes(short.try_into().unwrap_or_default());
        if n <= self.peer_nonce {
            return Err(bad("CURVE MESSAGE nonce replayed or out of order"));
        }
        let (tag, cipher) = boxed.split_at(MAC);
        // Decrypted where it is copied to: the frame is then a slice of it.
        let mut plain = BytesMut::from(cipher);
        self.session
            .decrypt_in_place_detached(
                &nonce24(self.theirs, short),
                b"",
                &mut plain,
                GenericArray::from_slice(tag),
            )
            .map_err(|_| bad("CURVE MESSAGE does not open"))?;
        self.peer_nonce = n;
        let flags = plain[0];
        Ok((flags, plain.freeze().slice(1..)))
    }
}

/// A CURVE client's handshake.
pub struct Client {
    rng: ChaCha20Rng,
    server: PublicKey,
    long: SecretKey,
    transient: SecretKey,
    nonce: u64,
    /// After WELCOME: the box of C' and S'.
    session: Option<(SalsaBox, PublicKey)>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("curve::Client").finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the server with public key `server`, as the holder of `secret`;
    /// its randomness comes from `seed`.
    pub fn new(server: &[u8; KEY], secret: &[u8; KEY], seed: [u8; KEY]) -> Client {
        let mut rng = ChaCha20Rng::from_seed(seed);
        Client {
            transient: secret_from(&mut rng),
            rng,
            server: PublicKey::from_bytes(*server),
            long: SecretKey::from_bytes(*secret),
            nonce: 1,
            session: None,
        }
    }

    fn next_nonce(&mut self) -> [u8; 8] {
        let n = self.nonce;
        self.nonce += 1;
        n.to_be_bytes()
    }

    /// HELLO's body (name included).
    pub fn hello(&mut self) -> Bytes {
        let short = self.next_nonce();
        let signature = seal(
            &SalsaBox::new(&self.server, &self.transient),
            b"CurveZMQHELLO---",
            &short,
            &[0u8; 64],
        );
        let mut b = BytesMut::with_capacity(6 + HELLO_BODY);
        b.put_slice(b"\x05HELLO");
        b.put_slice(&[1, 0]);
        b.put_bytes(0, 72);
        b.put_slice(self.transient.public_key().as_bytes());
        b.put_slice(&short);
        b.put_slice(&signature);
        b.freeze()
    }

    /// Takes WELCOME's body after its name; returns INITIATE's body (name included)
    /// carrying `metadata`.
    pub fn on_welcome(&mut self, body: &[u8], metadata: &[u8]) -> Result<Bytes, CommandError> {
        if body.len() != WELCOME_BODY {
            return Err(bad("CURVE WELCOME of the wrong size"));
        }
        let (long_nonce, boxed) = body.split_at(16);
        let welcome = SalsaBox::new(&self.server, &self.transient);
        let plain = open(
            &welcome,
            b"WELCOME-",
            long_nonce,
            boxed,
            "CURVE WELCOME does not open (wrong server key?)",
        )?;
        let server_transient = PublicKey::from_bytes(key_of(&plain));
        let cookie = &plain[KEY..KEY + COOKIE];
        // The vouch: C' and S, from our long-term key to S'.
        let vouch_nonce = random16(&mut self.rng);
        let mut vouched = Zeroizing::new(Vec::with_capacity(2 * KEY));
        vouched.extend_from_slice(self.transient.public_key().as_bytes());
        vouched.extend_from_slice(self.server.as_bytes());
        let vouch = seal(
            &SalsaBox::new(&server_transient, &self.long),
            b"VOUCH---",
            &vouch_nonce,
            &vouched,
        );
        let mut plain = Zeroizing::new(Vec::with_capacity(KEY + VOUCH + metadata.len()));
        plain.extend_from_slice(self.long.public_key().as_bytes());
        plain.extend_from_slice(&vouch_nonce);
        plain.extend_from_slice(&vouch);
        plain.extend_from_slice(metadata);
        let session = SalsaBox::new(&server_transient, &self.transient);
        let short = self.next_nonce();
        let boxed = seal(&session, b"CurveZMQINITIATE", &short, &plain);
        self.session = Some((session, server_transient));
        let mut b = BytesMut::with_capacity(9 + COOKIE + 8 + boxed.len());
        b.put_slice(b"\x08INITIATE");
        b.put_slice(cookie);
        b.put_slice(&short);
        b.put_slice(&boxed);
        Ok(b.freeze())
    }

    /// Takes READY's body after its name: the server's metadata, and the traffic keys.
    pub fn on_ready(mut self, body: &[u8]) -> Result<(Zeroizing<Vec<u8>>, Traffic), CommandError> {
        let Some((session, _)) = self.session.take() else {
            return Err(bad("CURVE READY before WELCOME"));
        };
        if body.len() < 8 + MAC {
            return Err(bad("CURVE READY too short"));
        }
        let (short, boxed) = body.split_at(8);
        let n = u64::from_be_bytes(short.try_into().unwrap_or_default());
        let metadata = open(
            &session,
            b"CurveZMQREADY---",
            short,
            boxed,
            "CURVE READY does not open",
        )?;
        Ok((metadata, Traffic::new(session, self.nonce, n, true)))
    }
}

/// A CURVE server's handshake.
pub struct Server {
    rng: ChaCha20Rng,
    /// Our long-term secret keys: a HELLO is tried against each, in turn.
    keys: Vec<SecretKey>,
    /// The key the client's HELLO opened with.
    chosen: Option<usize>,
    transient: SecretKey,
    cookie_key: Zeroizing<[u8; KEY]>,
    client_transient: Option<PublicKey>,
    client_nonce: u64,
    nonce: u64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("curve::Server").finish_non_exhaustive()
    }
}

/// What a client proved in INITIATE.
#[derive(Debug)]
pub struct Initiate {
    /// Its long-term public key (vouched for).
    pub client_key: [u8; KEY],
    /// Its metadata, as READY's.
    pub metadata: Zeroizing<Vec<u8>>,
}

impl Server {
    /// A server holding these long-term secret keys (the first is the current one;
    /// the others still open HELLOs made for them, for key rotation).
    /// Its randomness comes from `seed`.
    pub fn new(secrets: &[&[u8; KEY]], seed: [u8; KEY]) -> Server {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut cookie_key = Zeroizing::new([0u8; KEY]);
        rng.fill_bytes(cookie_key.as_mut());
        Server {
            transient: secret_from(&mut rng),
            rng,
            keys: secrets.iter().map(|s| SecretKey::from_bytes(**s)).collect(),
            chosen: None,
            cookie_key,
            client_transient: None,
            client_nonce: 0,
            nonce: 1,
        }
    }

    fn cookie_box(&self) -> XSalsa20Poly1305 {
        XSalsa20Poly1305::new(self.cookie_key.as_ref().into())
    }

    /// Takes HELLO's body after its name; returns WELCOME's body (name included).
    pub fn on_hello(&mut self, body: &[u8]) -> Result<Bytes, CommandError> {
        if body.len() != HELLO_BODY {
            return Err(bad("CURVE HELLO of the wrong size"));
        }
        if body[..2] != [1, 0] {
            return Err(bad("CURVE HELLO of another version"));
        }
        let client_transient = PublicKey::from_bytes(key_of(&body[74..]));
        let short = &body[74 + KEY..74 + KEY + 8];
        let signature = &body[74 + KEY + 8..];
        let chosen = self
            .keys
            .iter()
            .position(|k| {
                open(
                    &SalsaBox::new(&client_transient, k),
                    b"CurveZMQHELLO---",
                    short,
                    signature,
                    "",
                )
                .is_ok_and(|p| p.iter().all(|&b| b == 0))
            })
            .ok_or(bad("CURVE HELLO does not open with our keys"))?;
        self.chosen = Some(chosen);
        self.client_nonce = u64::from_be_bytes(short.try_into().unwrap_or_default());
        // The cookie: C' and s', under this handshake's own key.
        let cookie_nonce = random16(&mut self.rng);
        let mut kept = Zeroizing::new(Vec::with_capacity(2 * KEY));
        kept.extend_from_slice(client_transient.as_bytes());
        kept.extend_from_slice(&self.transient.to_bytes());
        let cookie = self
            .cookie_box()
            .encrypt(&nonce24(b"COOKIE--", &cookie_nonce), kept.as_slice())
            .unwrap_or_default();
        let mut plain = Zeroizing::new(Vec::with_capacity(KEY + COOKIE));
        plain.extend_from_slice(self.transient.public_key().as_bytes());
        plain.extend_from_slice(&cookie_nonce);
        plain.extend_from_slice(&cookie);
        let welcome_nonce = random16(&mut self.rng);
        let boxed = seal(
            &SalsaBox::new(&client_transient, &self.keys[chosen]),
            b"WELCOME-",
            &welcome_nonce,
            &plain,
        );
        self.client_transient = Some(client_transient);
        let mut b = BytesMut::with_capacity(8 + WELCOME_BODY);
        b.put_slice(b"\x07WELCOME");
        b.put_slice(&welcome_nonce);
        b.put_slice(&boxed);
        Ok(b.freeze())
    }

    /// Takes INITIATE's body after its name: the client's long-term key (its vouch
    /// checked) and metadata.
    pub fn on_initiate(&mut self, body: &[u8]) -> Result<Initiate, CommandError> {
        let (Some(client_transient), Some(chosen)) = (&self.client_transient, self.chosen) else {
            return Err(bad("CURVE INITIATE before HELLO"));
        };
        if body.len() < INITIATE_MIN {
            return Err(bad("CURVE INITIATE too short"));
        }
        let (cookie, rest) = body.split_at(COOKIE);
        let kept = self
            .cookie_box()
            .decrypt(&nonce24(b"COOKIE--", &cookie[..16]), &cookie[16..])
            .map(Zeroizing::new)
            .map_err(|_| bad("CURVE INITIATE with a cookie we did not make"))?;
        if kept[..KEY] != *client_transient.as_bytes() || kept[KEY..] != self.transient.to_bytes() {
            return Err(bad("CURVE INITIATE with another handshake's cookie"));
        }
        let (short, boxed) = rest.split_at(8);
        let n = u64::from_be_bytes(short.try_into().unwrap_or_default());
        if n <= self.client_nonce {
            return Err(bad("CURVE INITIATE nonce not above HELLO's"));
        }
        let session = SalsaBox::new(client_transient, &self.transient);
        let plain = open(
            &session,
            b"CurveZMQINITIATE",
            short,
            boxed,
            "CURVE INITIATE does not open",
        )?;
        let client_key = key_of(&plain);
        let vouch = &plain[KEY..KEY + VOUCH];
        let vouched = open(
            &SalsaBox::new(&PublicKey::from_bytes(client_key), &self.transient),
            b"VOUCH---",
            &vouch[..16],
            &vouch[16..],
            "CURVE INITIATE with a vouch that does not open",
        )?;
        let our_public = self.keys[chosen].public_key();
        if vouched[..KEY] != *client_transient.as_bytes()
            || vouched[KEY..] != *our_public.as_bytes()
        {
            return Err(bad("CURVE INITIATE vouching for other keys"));
        }
        self.client_nonce = n;
        Ok(Initiate {
            client_key,
            metadata: Zeroizing::new(plain[KEY + VOUCH..].to_vec()),
        })
    }

    /// READY's body (name included) carrying `metadata`, and the traffic keys.
    pub fn ready(mut self, metadata: &[u8]) -> Result<(Bytes, Traffic), CommandError> {
        let Some(client_transient) = self.client_transient.take() else {
            return Err(bad("CURVE READY before INITIATE"));
        };
        let session = SalsaBox::new(&client_transient, &self.transient);
        let short = self.nonce.to_be_bytes();
        let boxed = seal(&session, b"CurveZMQREADY---", &short, metadata);
        let mut b = BytesMut::with_capacity(6 + 8 + boxed.len());
        b.put_slice(b"\x05READY");
        b.put_slice(&short);
        b.put_slice(&boxed);
        Ok((
            b.freeze(),
            Traffic::new(session, self.nonce + 1, self.client_nonce, false),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip<'a>(b: &'a [u8], name: &[u8]) -> &'a [u8] {
        b.strip_prefix(name).unwrap()
    }

    fn keypair() -> ([u8; KEY], Zeroizing<[u8; KEY]>) {
        use std::sync::atomic::{AtomicU8, Ordering};
        static NEXT: AtomicU8 = AtomicU8::new(1);
        keypair_from([NEXT.fetch_add(1, Ordering::Relaxed); KEY])
    }

    /// A whole handshake and traffic both ways, with the sizes libzmq expects, and a
    /// replayed MESSAGE refused.
    #[test]
    fn a_handshake_and_traffic_round_trip() {
        let (spub, ssec) = keypair();
        let (cpub, csec) = keypair();
        let mut client = Client::new(&spub, &csec, [1; KEY]);
        let (_, old) = keypair();
        let mut server = Server::new(&[&old, &ssec], [2; KEY]);
        let hello = client.hello();
        assert_eq!(hello.len(), 200);
        let welcome = server.on_hello(strip(&hello, b"\x05HELLO")).unwrap();
        assert_eq!(welcome.len(), 168);
        let initiate = client
            .on_welcome(strip(&welcome, b"\x07WELCOME"), b"meta")
            .unwrap();
        assert_eq!(initiate.len(), 257 + 4);
        let got = server
            .on_initiate(strip(&initiate, b"\x08INITIATE"))
            .unwrap();
        assert_eq!((got.client_key, &got.metadata[..]), (cpub, &b"meta"[..]));
        let (ready, mut st) = server.ready(b"server-meta").unwrap();
        let (meta, mut ct) = client.on_ready(strip(&ready, b"\x05READY")).unwrap();
        assert_eq!(&meta[..], b"server-meta");
        let m = ct.seal(FLAG_MORE, b"hello");
        assert_eq!(
            st.open(&m).unwrap(),
            (FLAG_MORE, Bytes::from_static(b"hello"))
        );
        assert!(st.open(&m).is_err(), "a replay is refused");
        let back = st.seal(FLAG_COMMAND, b"\x04PING");
        assert_eq!(ct.open(&back).unwrap().0, FLAG_COMMAND);
        let mut tampered = ct.seal(0, b"x").to_vec();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(st.open(&tampered).is_err());
    }

    #[test]
    fn a_hello_for_another_server_or_a_forged_initiate_is_refused() {
        let (spub, _) = keypair();
        let (_, other) = keypair();
        let (_, csec) = keypair();
        let mut client = Client::new(&spub, &csec, [1; KEY]);
        let hello = client.hello();
        let mut server = Server::new(&[&other], [4; KEY]);
        assert!(server.on_hello(strip(&hello, b"\x05HELLO")).is_err());
        for len in [0, 100, 193, 195] {
            assert!(
                Server::new(&[&other], [4; KEY])
                    .on_hello(&vec![0; len])
                    .is_err()
            );
        }
        assert!(
            Server::new(&[&other], [4; KEY])
                .on_initiate(&[0; 300])
                .is_err(),
            "before HELLO"
        );
    }
}
