//! The driver thread: poll, dispatch, fire timers, service dirty sockets, repeat.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::time::Instant;

use mio::{Events, Poll, Token};

use super::driver::{Driver, SockState, TimerEntry};
use super::handle::Command;
use super::pipe::{Pipe, Serviced};
use super::{RESERVED_TOKENS, SocketId, Transport, sleep_until};
use crate::options::SHUTDOWN_LINGER;
use crate::pattern::{Action, DownReason, Event, Output, Vocket};
use crate::security::{SaslMechanism, Security};
use crate::{Error, Result, SocketOptions};

pub(crate) const WAKER: Token = Token(usize::MAX);

fn pipe_token(sock: SocketId) -> Token {
    Token(RESERVED_TOKENS + sock.0 as usize)
}

pub(crate) struct EventLoop<T> {
    poll: Poll,
    driver: Driver,
    transport: T,
    ctx: zmq::Context,
    commands: Receiver<Command>,
    monitors: std::collections::HashMap<SocketId, zmq::Socket>,
    shutting_down: bool,
    /// The timers one turn fires (kept to reuse its allocation).
    due: Vec<(Instant, TimerEntry)>,
}

impl<T: Transport> EventLoop<T> {
    pub(crate) fn new(
        scheme: &str,
        ctx: zmq::Context,
        poll: Poll,
        commands: Receiver<Command>,
        transport: T,
    ) -> Result<EventLoop<T>> {
        let registry = poll
            .registry()
            .try_clone()
            .map_err(|e| Error::io("clone registry", e))?;
        Ok(EventLoop {
            poll,
            driver: Driver::new(registry, scheme),
            transport,
            ctx,
            commands,
            monitors: Default::default(),
            shutting_down: false,
            due: Vec::new(),
        })
    }

    pub(crate) fn run(mut self, started: SyncSender<Result<()>>) {
        let start = self.transport.start(&mut self.driver);
        let ok = start.is_ok();
        let _ = started.send(start);
        if !ok {
            return;
        }
        let mut events = Events::with_capacity(1024);
        loop {
            self.driver.now = Instant::now();
            let timeout = if self.driver.dirty.is_empty() {
                sleep_until(self.driver.timers.next_deadline(), self.driver.now)
            } else {
                Some(std::time::Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("driver `{}`: poll failed: {e}", self.driver.scheme());
                break;
            }
            self.driver.now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    WAKER => self.commands(),
                    Token(t) if t >= RESERVED_TOKENS => {
                        self.driver
                            .mark_dirty(SocketId((t - RESERVED_TOKENS) as u64));
                    }
                    token => self.transport.ready(&mut self.driver, token, event),
                }
            }
            self.fire_timers();
            self.service_dirty();
            if self.shutting_down && self.driver.sockets.is_empty() {
                break;
            }
        }
        // Anything left (poll failure): close what remains without lingering.
        let socks: Vec<SocketId> = self.driver.sockets.keys().copied().collect();
        for sock in socks {
            self.destroy(sock);
        }
        log::debug!("driver `{}` exits", self.driver.scheme());
    }

    fn commands(&mut self) {
        loop {
            match self.commands.try_recv() {
                Ok(cmd) => self.command(cmd),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.command(Command::Shutdown);
                    return;
                }
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Open {
                sock,
                ty,
                mut opts,
                shared,
                reply,
            } => {
                let r = if !self.transport.supports(ty) {
                    Err(Error::UnsupportedSocketType {
                        driver: self.driver.scheme().to_owned(),
                        socket_type: ty,
                    })
                } else if self.shutting_down {
                    Err(Error::DriverGone {
                        driver: self.driver.scheme().to_owned(),
                    })
                } else {
                    self.transport.adjust_options(&mut opts);
                    let endpoint = format!(
                        "inproc://vtx-{}-{}-{:x}",
                        self.driver.scheme(),
                        sock.0,
                        rand::random::<u32>()
                    );
                    Pipe::open(
                        &self.ctx,
                        ty,
                        &endpoint,
                        self.driver.registry(),
                        pipe_token(sock),
                    )
                    .map(|pipe| {
                        let state = SockState {
                            vocket: Vocket::new(ty, opts),
                            pipe: Some(pipe),
                            timer_at: None,
                            linger_until: None,
                            dirty: false,
                            shared,
                        };
                        self.driver.sockets.insert(sock, state);
                        endpoint
                    })
                };
                let _ = reply.send(r);
            }
            Command::SetOptions {
                sock,
                mut opts,
                reply,
            } => {
                self.transport.adjust_options(&mut opts);
                // A mechanism this transport cannot run is refused when it is set,
                // not only at the next bind: what is bound already would go on
                // without it.
                let r =
                    self.securable(&opts)
                        .and_then(|()| match self.driver.sockets.get_mut(&sock) {
                            Some(s) => {
                                s.vocket.set_options(opts);
                                Ok(())
                            }
                            None => Err(Error::NotAttached),
                        });
                let _ = reply.send(r);
            }
            Command::Bind {
                sock,
                endpoint,
                reply,
            } => {
                let _ = reply.send(self.on_open(sock, |t, d| t.bind(d, sock, &endpoint)));
            }
            Command::Connect {
                sock,
                endpoint,
                reply,
            } => {
                let _ = reply.send(self.on_open(sock, |t, d| t.connect(d, sock, &endpoint)));
            }
            Command::Unbind {
                sock,
                endpoint,
                reply,
            } => {
                let _ = reply.send(self.on_open(sock, |t, d| t.unbind(d, sock, &endpoint)));
            }
            Command::Disconnect {
                sock,
                endpoint,
                reply,
            } => {
                let _ = reply.send(self.on_open(sock, |t, d| t.disconnect(d, sock, &endpoint)));
            }
            Command::Close { sock, reply } => {
                self.close(sock);
                let _ = reply.send(Ok(()));
            }
            Command::Meta { sock, key, reply } => {
                let _ = reply.send(self.open_socket(sock).map(|()| self.meta(sock, &key)));
            }
            Command::Properties {
                sock,
                message,
                reply,
            } => {
                let r = self.open_socket(sock).map(|()| {
                    let v = &self.driver.sockets[&sock].vocket;
                    match message {
                        Some(n) => v.message_properties(n),
                        None => v.last_message_properties(),
                    }
                    .cloned()
                });
                let _ = reply.send(r);
            }
            Command::Stats { sock, reply } => {
                let r = self
                    .open_socket(sock)
                    .map(|()| self.driver.sockets[&sock].vocket.stats().clone());
                let _ = reply.send(r);
            }
            Command::Monitor {
                sock,
                endpoint,
                reply,
            } => {
                let r = self.open_socket(sock).and_then(|()| {
                    let m = self.ctx.socket(zmq::PAIR)?;
                    m.set_linger(0)?;
                    m.connect(&endpoint)?;
                    self.monitors.insert(sock, m);
                    Ok(())
                });
                let _ = reply.send(r);
            }
            Command::Shutdown => {
                if !self.shutting_down {
                    self.shutting_down = true;
                    let socks: Vec<SocketId> = self.driver.sockets.keys().copied().collect();
                    for sock in socks {
                        self.close(sock);
                        self.cap_linger(sock);
                    }
                }
            }
        }
    }

    /// Runs a transport call for a socket the application still has open.
    fn on_open<R>(
        &mut self,
        sock: SocketId,
        call: impl FnOnce(&mut T, &mut Driver) -> Result<R>,
    ) -> Result<R> {
        self.open_socket(sock)?;
        if let Some(opts) = self.driver.options(sock) {
            self.securable(opts)?;
        }
        call(&mut self.transport, &mut self.driver)
    }

    /// Whether this transport can run the mechanism `opts` asks for.
    fn securable(&self, opts: &SocketOptions) -> Result<()> {
        if opts.security == Security::Null {
            return Ok(());
        }
        let scheme = self.driver.scheme();
        if !self.transport.secures() {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "{scheme}:// has no ZMTP security handshake: it cannot run {}",
                    String::from_utf8_lossy(opts.security.name())
                ),
            });
        }
        match opts.security.sasl_mechanism() {
            Some(m) if m.needs_tls() && !self.transport.confidential() => {
                Err(Error::InvalidConfig {
                    reason: format!(
                        "SASL {m} runs only inside TLS (tls://), not on {scheme}://: {}",
                        if m == SaslMechanism::Plain {
                            "it would send the password in clear"
                        } else {
                            "it needs the TLS session"
                        }
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// The socket exists and the application has not closed it.
    fn open_socket(&self, sock: SocketId) -> Result<()> {
        match self.driver.sockets.get(&sock) {
            Some(s) if s.pipe.is_some() => Ok(()),
            _ => Err(Error::NotAttached),
        }
    }

    fn meta(&self, sock: SocketId, key: &str) -> Option<String> {
        let s = self.driver.sockets.get(&sock)?;
        let v = &s.vocket;
        let stats = v.stats();
        let n = |x: u64| Some(x.to_string());
        match key {
            "peers" => n(v.peer_count() as u64),
            "last-peer" => v.last_sender().map(str::to_owned),
            "socket-type" => Some(v.socket_type().to_string()),
            "msgs-in" => n(stats.msgs_in),
            "msgs-out" => n(stats.msgs_out),
            "peers-up" => n(stats.peers_up),
            "refused" => n(stats.refused),
            "heartbeat-timeouts" => n(stats.heartbeat_timeouts),
            "handshake-failures" => n(stats.handshake_failures),
            "auth-failures" => n(stats.auth_failures),
            "over-limit" => n(stats.over_limit),
            "subscriptions" => n(v.subscription_count() as u64),
            // Entries in the driver's timer heap, superseded ones included: a bounded
            // number however long traffic runs.
            "driver-timers" => n(self.driver.timers.len() as u64),
            // Sockets the driver still serves, lingering ones included.
            "driver-sockets" => n(self.driver.sockets.len() as u64),
            "protocol-errors" => n(stats.protocol_errors),
            "dropped-hwm" => n(stats.dropped_hwm),
            "dropped-app-full" => n(stats.dropped_app_full),
            "dropped-unroutable" => n(stats.dropped_unroutable),
            "dropped-invalid" => n(stats.dropped_invalid),
            "dropped-duplicate" => n(stats.dropped_duplicate),
            "dropped-peer-gone" => n(stats.dropped_peer_gone),
            "dropped" => n(stats.dropped_hwm
                + stats.dropped_app_full
                + stats.dropped_unroutable
                + stats.dropped_invalid
                + stats.dropped_duplicate
                + stats.dropped_peer_gone),
            _ => {
                // "last-peer.<key>": transport metadata of the last sender.
                let Some(sub) = key.strip_prefix("last-peer.") else {
                    return self.transport.socket_meta(sock, key);
                };
                let conn = v
                    .last_sender_id()
                    .and_then(|p| v.peer_info(p))
                    .map(|i| i.conn)?;
                self.transport.peer_meta(conn, sub)
            }
        }
    }

    /// The application closed the socket: take what it sent, stop listening, linger.
    fn close(&mut self, sock: SocketId) {
        let now = self.driver.now;
        let Some(s) = self.driver.sockets.get_mut(&sock) else {
            return;
        };
        let Some(mut pipe) = s.pipe.take() else {
            return;
        };
        pipe.drain(&mut s.vocket, now);
        s.vocket.close();
        let linger = s.vocket.options().linger;
        // Shutting down must not hang on a peer that never drains.
        let linger = if self.shutting_down {
            Some(linger.map_or(SHUTDOWN_LINGER, |l| l.min(SHUTDOWN_LINGER)))
        } else {
            linger
        };
        let until = linger.and_then(|l| now.checked_add(l));
        s.linger_until = Some(until);
        pipe.close(self.driver.registry());
        if let Some(until) = until {
            self.driver.timers.arm(until, TimerEntry::Socket(sock));
        }
        self.monitors.remove(&sock);
        self.transport.close_socket(&mut self.driver, sock);
        self.driver.mark_dirty(sock);
    }

    /// A socket closed before shutdown lingers [`SHUTDOWN_LINGER`] more at most.
    fn cap_linger(&mut self, sock: SocketId) {
        let cap = self.driver.now + SHUTDOWN_LINGER;
        let Some(s) = self.driver.sockets.get_mut(&sock) else {
            return;
        };
        if let Some(until) = &mut s.linger_until
            && until.is_none_or(|u| u > cap)
        {
            *until = Some(cap);
            self.driver.timers.arm(cap, TimerEntry::Socket(sock));
        }
    }

    fn destroy(&mut self, sock: SocketId) {
        self.transport.destroy_socket(&mut self.driver, sock);
        if let Some(s) = self.driver.sockets.remove(&sock)
            && let Some(pipe) = s.pipe
        {
            pipe.close(self.driver.registry());
        }
        self.monitors.remove(&sock);
    }

    /// Fires the timers due at the start of this turn. A timer set while they run, even
    /// for now (a link that stopped on its read budget), waits for the next turn, after
    /// the poller has had its say: otherwise it would fire again and again in this one.
    fn fire_timers(&mut self) {
        let now = self.driver.now;
        let mut due = std::mem::take(&mut self.due);
        due.extend(self.driver.timers.expired(now));
        for &(at, entry) in &due {
            match entry {
                TimerEntry::Transport(key) => self.transport.timer(&mut self.driver, key),
                TimerEntry::Socket(sock) => {
                    let Some(s) = self.driver.sockets.get_mut(&sock) else {
                        continue;
                    };
                    if s.timer_at == Some(at) {
                        s.timer_at = None;
                    }
                    s.vocket.handle_timeout(now);
                    self.driver.mark_dirty(sock);
                }
            }
        }
        due.clear();
        self.due = due;
    }

    fn service_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.driver.dirty);
        for sock in dirty {
            if let Some(s) = self.driver.sockets.get_mut(&sock) {
                s.dirty = false;
            }
            self.service(sock);
        }
    }

    /// Moves everything that is ready for one socket: pipe <-> Vocket <-> transport.
    fn service(&mut self, sock: SocketId) {
        let now = self.driver.now;
        let Some(s) = self.driver.sockets.get_mut(&sock) else {
            return;
        };
        // Before the application can see a message from a new peering, it can send to it.
        s.publish_peers();
        if let Some(pipe) = s.pipe.as_mut() {
            match pipe.service(&mut s.vocket, now) {
                Ok(Serviced::Budget) => self.driver.mark_dirty(sock),
                Ok(Serviced::RetrySoon) => {
                    let at = now + std::time::Duration::from_millis(1);
                    self.driver.timers.arm(at, TimerEntry::Socket(sock));
                }
                Ok(Serviced::Idle) => {}
                Err(e) => log::error!("{sock}: application pipe failed: {e}"),
            }
        }
        // The Vocket's outputs, in the order `poll_output` gives them; what the transport
        // does with one may queue more, which the next call returns in its place.
        loop {
            let Some(s) = self.driver.sockets.get_mut(&sock) else {
                return;
            };
            match s.vocket.poll_output() {
                Some(Output::Ready { conn, .. }) => self.transport.flush(&mut self.driver, conn),
                Some(Output::Action(Action::Close { conn, reason })) => {
                    self.transport.close(&mut self.driver, conn, &reason)
                }
                Some(Output::Action(Action::Resume { conn })) => {
                    self.transport.resume(&mut self.driver, conn)
                }
                Some(Output::Event(event)) => self.report(sock, &event),
                None => break,
            }
        }
        // Anything the transport did to the Vocket above marked the socket dirty again,
        // so new messages for the application get a pipe pass on the next turn.
        let Some(s) = self.driver.sockets.get_mut(&sock) else {
            return;
        };
        s.publish_peers();
        if let Some(until) = s.linger_until {
            let flushed = s.vocket.is_flushed() && !self.transport.has_pending(sock);
            if flushed || until.is_some_and(|until| now >= until) {
                self.destroy(sock);
                return;
            }
        }
        self.driver.arm_socket_timer(sock);
    }

    fn report(&mut self, sock: SocketId, event: &Event) {
        log::debug!("{sock}: {event:?}");
        let Some(m) = self.monitors.get(&sock) else {
            return;
        };
        let (name, address, detail) = match event {
            Event::PeerUp { address } => ("peer-up", address.as_str(), String::new()),
            Event::PeerDown {
                address,
                reason: DownReason::HeartbeatTimeout,
            } => (
                "heartbeat-timeout",
                address.as_str(),
                DownReason::HeartbeatTimeout.to_string(),
            ),
            Event::PeerDown { address, reason } => {
                ("peer-down", address.as_str(), reason.to_string())
            }
            Event::Refused { address, reason } => ("refused", address.as_str(), reason.to_string()),
            Event::HandshakeFailed { address, reason } => {
                ("handshake-failed", address.as_str(), reason.clone())
            }
            Event::AuthFailed {
                address,
                status,
                reason,
            } => (
                "auth-failed",
                address.as_str(),
                format!("{status} {reason}"),
            ),
            Event::ProtocolError { address, reason } => {
                ("protocol-error", address.as_str(), reason.clone())
            }
            // Aggregated: "hwm 12" is twelve drops at SNDHWM since the last report.
            Event::Dropped { reason, count } => (
                "dropped",
                "",
                format!("{} {count}", format!("{reason:?}").to_lowercase()),
            ),
        };
        let frames = [name.as_bytes(), address.as_bytes(), detail.as_bytes()];
        if m.send_multipart(frames, zmq::DONTWAIT).is_err() {
            log::debug!("{sock}: monitor full, event lost");
        }
    }
}
