//! Connecting endpoints and libzmq's reconnect policy: one [`Connecter`] per
//! `connect` call, which holds at most one link at a time and, when that link ends
//! (or an attempt fails), waits RECONNECT_IVL (doubling up to RECONNECT_IVL_MAX, with
//! jitter) before the next attempt.

use std::time::Duration;

use rand::Rng;
use slab::Slab;

use super::SocketLinks;
use super::ids::{Generations, timer_key};
use crate::Result;
use crate::runtime::{Driver, SocketId};

/// The RECONNECT_IVL used for the first wait when a socket has reconnection off.
const DEFAULT_IVL: Duration = Duration::from_millis(100);

/// One `connect` of one socket.
#[derive(Debug)]
pub struct Connecter<T> {
    /// The socket that connected.
    pub sock: SocketId,
    /// The endpoint as the application gave it (what `disconnect` names).
    pub endpoint: String,
    /// Where to connect, resolved once at `connect`.
    pub target: T,
    /// The transport's key of the link this connecter holds now.
    link: Option<usize>,
    /// The interval the next wait starts from.
    ivl: Duration,
    /// Of the reconnect timer armed last; an older timer is stale.
    generation: u32,
}

/// The connecters of a transport, and their reconnect timers (of the transport's
/// timer kind `timer_kind`, see [`timer_key`]).
#[derive(Debug)]
pub struct Connecters<T> {
    slab: Slab<Connecter<T>>,
    generations: Generations,
    timer_kind: u64,
}

impl<T> Connecters<T> {
    /// No connecters; reconnect timers get the kind `timer_kind`.
    pub fn new(timer_kind: u64) -> Self {
        Connecters {
            slab: Slab::new(),
            generations: Generations::new(),
            timer_kind,
        }
    }

    /// `connect`: adds a connecter of `sock` to `endpoint` (resolved to `target`) and
    /// lists it in `sockets`; the caller makes its first attempt.
    pub fn connect(
        &mut self,
        driver: &Driver,
        sockets: &mut SocketLinks,
        sock: SocketId,
        endpoint: &crate::Endpoint,
        target: T,
    ) -> usize {
        let ivl = driver
            .options(sock)
            .and_then(|o| o.reconnect_ivl)
            .unwrap_or(DEFAULT_IVL);
        let ck = self.slab.insert(Connecter {
            sock,
            endpoint: endpoint.to_string(),
            target,
            link: None,
            ivl,
            generation: 0,
        });
        sockets.of(sock).connecters.push(ck);
        ck
    }

    /// The connecter `ck`.
    pub fn get(&self, ck: usize) -> Option<&Connecter<T>> {
        self.slab.get(ck)
    }

    /// Forgets `ck`; returns it and the link it held, which no longer reconnects.
    pub fn remove(&mut self, ck: usize) -> (Connecter<T>, Option<usize>) {
        let c = self.slab.remove(ck);
        let link = c.link;
        (c, link)
    }

    /// `disconnect`: forgets the connecter of `sock` to `endpoint` (as the
    /// application named it); returns the link it held, which no longer reconnects.
    pub fn disconnect(
        &mut self,
        sockets: &mut SocketLinks,
        sock: SocketId,
        endpoint: &str,
    ) -> Result<Option<usize>> {
        let ck = sockets.take_connecter(sock, endpoint, |k| {
            self.get(k).is_some_and(|c| c.endpoint == endpoint)
        })?;
        Ok(self.remove(ck).1)
    }

    /// A socket closes: forgets its connecters and takes its listeners from
    /// `sockets`; returns the listeners and the links the connecters held (which no
    /// longer reconnect), or `None` if the socket had nothing.
    pub fn close_socket(
        &mut self,
        sockets: &mut SocketLinks,
        sock: SocketId,
    ) -> Option<(Vec<usize>, Vec<usize>)> {
        sockets.get(sock)?;
        let entries = sockets.of(sock);
        let listeners = std::mem::take(&mut entries.listeners);
        let links = std::mem::take(&mut entries.connecters)
            .into_iter()
            .filter_map(|ck| self.remove(ck).1)
            .collect();
        Some((listeners, links))
    }

    /// The connecter `ck` if it should attempt now: it holds no link.
    pub fn idle(&self, ck: usize) -> Option<&Connecter<T>> {
        self.slab.get(ck).filter(|c| c.link.is_none())
    }

    /// `ck`'s attempt made the link `link`.
    pub fn linked(&mut self, ck: usize, link: usize) {
        if let Some(c) = self.slab.get_mut(ck) {
            c.link = Some(link);
        }
    }

    /// The link of `ck` came up: the next wait starts again from RECONNECT_IVL.
    pub fn up(&mut self, driver: &Driver, ck: usize) {
        if let Some(c) = self.slab.get_mut(ck)
            && let Some(base) = driver.options(c.sock).and_then(|o| o.reconnect_ivl)
        {
            c.ivl = base;
        }
    }

    /// An attempt of `ck` failed before it made a link: wait, then try again.
    pub fn attempt_failed(&mut self, driver: &mut Driver, ck: usize) {
        if self.idle(ck).is_some() {
            self.schedule(driver, ck);
        }
    }

    /// The link `link` of `ck` ended: arms the reconnect timer, unless `ck` holds
    /// another link by now. (The wait starts from RECONNECT_IVL again if the link had
    /// come up: [`Connecters::up`] reset it.)
    pub fn link_ended(&mut self, driver: &mut Driver, ck: usize, link: usize) {
        let Some(c) = self.slab.get_mut(ck).filter(|c| c.link == Some(link)) else {
            return;
        };
        c.link = None;
        self.schedule(driver, ck);
    }

    /// Arms `ck`'s reconnect timer, unless the socket does not reconnect
    /// (RECONNECT_IVL -1).
    fn schedule(&mut self, driver: &mut Driver, ck: usize) {
        let generation = self.generations.advance();
        let Some(c) = self.slab.get_mut(ck) else {
            return;
        };
        let Some(opts) = driver.options(c.sock) else {
            return;
        };
        let Some(base) = opts.reconnect_ivl else {
            return;
        };
        let max = opts.reconnect_ivl_max;
        let wait = reconnect_wait(&mut c.ivl, base, max, driver.rng());
        c.generation = generation;
        let at = driver.now() + wait;
        driver.set_timer(at, timer_key(self.timer_kind, generation, ck));
    }

    /// Whether a reconnect timer of `generation` for `ck` is the one armed last.
    pub fn is_due(&self, ck: usize, generation: u32) -> bool {
        self.slab
            .get(ck)
            .is_some_and(|c| c.generation == generation)
    }
}

/// The wait before the next connect attempt, libzmq's way: the current interval plus
/// up to one `base` interval of jitter. With a RECONNECT_IVL_MAX above `base`, `ivl`
/// doubles after each attempt up to the maximum; a transport resets it to `base` once a
/// session came up.
fn reconnect_wait(
    ivl: &mut Duration,
    base: Duration,
    max: Option<Duration>,
    rng: &mut impl Rng,
) -> Duration {
    let jitter = Duration::from_millis(rng.random_range(0..=base.as_millis().max(1) as u64));
    let wait = *ivl + jitter;
    if let Some(max) = max.filter(|m| *m > base) {
        *ivl = (*ivl * 2).min(max);
    }
    wait
}
