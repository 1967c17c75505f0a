//! The inproc pipe between an application socket and its Vocket (docs/architecture.md §1-2).
//!
//! `ZMQ_FD` is edge-triggered: a wake-up means "look", not "one message". So a service
//! pass writes what the Vocket has for the application, reads what the application
//! sent while the Vocket can take it, and checks `ZMQ_EVENTS` before going back to
//! sleep; any send, recv or `ZMQ_EVENTS` read may have eaten the next edge.

use std::fmt;
use std::os::raw::c_void;
use std::os::unix::io::RawFd;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use mio::unix::SourceFd;
use mio::{Interest, Token};

use crate::pattern::Vocket;
use crate::{Msg, SocketType};

/// Messages read from the application per service pass before other sockets get a turn.
const READ_BUDGET: usize = 256;
/// The driver side's own HWM: libzmq adds it to the application's (inproc), so the
/// application's SNDHWM/RCVHWM keep their meaning.
const PIPE_HWM: i32 = 1;
/// Frames up to this size are copied; larger ones are shared with libzmq, not copied.
const COPY_MAX: usize = 256;
/// Small frames from the application are copied into blocks of this size and handed
/// on as slices of them: one allocation per block, not per frame. A block lives as
/// long as any frame in it; what the Vocket keeps for long (subscriptions, a reply
/// cache) it copies out (`Msg::detached`).
const ARENA_BLOCK: usize = 4 * 1024;

/// libzmq's name for a vtx socket type (the inverse of [`from_zmq`]).
pub fn to_zmq(ty: SocketType) -> zmq::SocketType {
    match ty {
        SocketType::Pair => zmq::PAIR,
        SocketType::Pub => zmq::PUB,
        SocketType::Sub => zmq::SUB,
        SocketType::Req => zmq::REQ,
        SocketType::Rep => zmq::REP,
        SocketType::Dealer => zmq::DEALER,
        SocketType::Router => zmq::ROUTER,
        SocketType::Pull => zmq::PULL,
        SocketType::Push => zmq::PUSH,
        SocketType::XPub => zmq::XPUB,
        SocketType::XSub => zmq::XSUB,
    }
}

/// The libzmq socket type the application gets for a vtx socket type (docs/architecture.md §2):
/// its own, but a ROUTER's, which is a DEALER carrying ROUTER framing.
pub fn app_socket_type(ty: SocketType) -> zmq::SocketType {
    match ty {
        SocketType::Router => zmq::DEALER,
        other => to_zmq(other),
    }
}

/// Creates the application's end of the pipe for a vtx socket type: a libzmq socket of
/// [`app_socket_type`]. A PUB or XPUB gets XPUB_NODROP, so a full pipe says `EAGAIN`
/// instead of dropping in silence: the application side decides (the vtx socket drops
/// as libzmq's PUB does, unless its own XPUB_NODROP is set).
pub fn app_socket(ctx: &zmq::Context, ty: SocketType) -> zmq::Result<zmq::Socket> {
    let mut socket = ctx.socket(app_socket_type(ty))?;
    if matches!(ty, SocketType::Pub | SocketType::XPub) {
        set_int_option(&mut socket, zmq_sys::ZMQ_XPUB_NODROP as i32, 1)?;
    }
    Ok(socket)
}

/// The libzmq socket type of the driver's end of the pipe.
pub fn pipe_socket_type(ty: SocketType) -> zmq::SocketType {
    match ty {
        SocketType::Pair => zmq::PAIR,
        SocketType::Pub | SocketType::XPub => zmq::XSUB,
        SocketType::Sub | SocketType::XSub => zmq::XPUB,
        SocketType::Req | SocketType::Rep | SocketType::Dealer | SocketType::Router => zmq::DEALER,
        SocketType::Pull => zmq::PUSH,
        SocketType::Push => zmq::PULL,
    }
}

/// Maps a libzmq socket type to the vtx one (`STREAM` has none).
pub fn from_zmq(ty: zmq::SocketType) -> Option<SocketType> {
    Some(match ty {
        zmq::PAIR => SocketType::Pair,
        zmq::PUB => SocketType::Pub,
        zmq::SUB => SocketType::Sub,
        zmq::REQ => SocketType::Req,
        zmq::REP => SocketType::Rep,
        zmq::DEALER => SocketType::Dealer,
        zmq::ROUTER => SocketType::Router,
        zmq::PULL => SocketType::Pull,
        zmq::PUSH => SocketType::Push,
        zmq::XPUB => SocketType::XPub,
        zmq::XSUB => SocketType::XSub,
        zmq::STREAM => return None,
    })
}

pub(crate) struct Pipe {
    socket: zmq::Socket,
    fd: RawFd,
    /// The block small frames are copied into ([`ARENA_BLOCK`]).
    arena: BytesMut,
    /// The driver's end can receive (not a PUSH).
    recv_ok: bool,
    /// The driver's end can send (not a PULL).
    send_ok: bool,
    /// The driver's end is an XPUB, whose POLLOUT is always set.
    pollout_lies: bool,
}

/// What a service pass left.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Serviced {
    /// Nothing more to do until the next `ZMQ_FD` edge.
    Idle,
    /// Stopped on the read budget: service again soon.
    Budget,
    /// The application's SUB pipe is full and XPUB gives no reliable signal: retry.
    RetrySoon,
}

impl fmt::Debug for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipe").field("fd", &self.fd).finish()
    }
}

impl Pipe {
    /// Creates the driver's end, binds it to `endpoint` and registers its `ZMQ_FD`.
    pub(crate) fn open(
        ctx: &zmq::Context,
        ty: SocketType,
        endpoint: &str,
        registry: &mio::Registry,
        token: Token,
    ) -> crate::Result<Pipe> {
        let mut socket = ctx.socket(pipe_socket_type(ty))?;
        socket.set_linger(0)?;
        socket.set_sndhwm(PIPE_HWM)?;
        socket.set_rcvhwm(PIPE_HWM)?;
        if matches!(ty, SocketType::Sub | SocketType::XSub) {
            // Without NODROP an XPUB drops silently when the application is slow; with
            // it we see EAGAIN and apply our own policy (pause streams, count drops).
            set_int_option(&mut socket, zmq_sys::ZMQ_XPUB_NODROP as i32, 1)?;
        }
        socket.bind(endpoint)?;
        let fd = socket.get_fd()?;
        registry
            .register(&mut SourceFd(&fd), token, Interest::READABLE)
            .map_err(|e| crate::Error::io("register pipe", e))?;
        Ok(Pipe {
            socket,
            fd,
            arena: BytesMut::new(),
            recv_ok: ty != SocketType::Pull,
            send_ok: ty != SocketType::Push,
            pollout_lies: matches!(ty, SocketType::Sub | SocketType::XSub),
        })
    }

    /// One service pass: the application's messages in, the Vocket's out.
    pub(crate) fn service(&mut self, v: &mut Vocket, now: Instant) -> Result<Serviced, zmq::Error> {
        let mut budget = READ_BUDGET;
        loop {
            let blocked = !self.write_out(v)?;
            // The pipe said EAGAIN: libzmq processed every pending command just then.
            let mut drained = !self.recv_ok;
            while self.recv_ok && budget > 0 && v.can_send() {
                match self.recv()? {
                    Some(msg) => {
                        v.handle_app(msg, now);
                        budget -= 1;
                    }
                    None => {
                        drained = true;
                        break;
                    }
                }
            }
            if budget == 0 {
                return Ok(Serviced::Budget);
            }
            if drained && !blocked && v.peek_to_app().is_none() {
                // Nothing waits either way, and the EAGAIN above consumed the commands
                // that could have arrived: the next one makes a new ZMQ_FD edge. Asking
                // ZMQ_EVENTS would cost another poll() for the same answer.
                return Ok(Serviced::Idle);
            }
            // Any send, recv or ZMQ_EVENTS may eat the next edge: ask before sleeping.
            let events = self.socket.get_events()?;
            let more_in = self.recv_ok && events.contains(zmq::POLLIN) && v.can_send();
            // POLLOUT is the truth for every pipe but the XPUB end of a SUB socket: an
            // XPUB always reports it, even when an XPUB_NODROP send fails with EAGAIN.
            let pollout = events.contains(zmq::POLLOUT) && !(blocked && self.pollout_lies);
            let more_out = pollout && v.peek_to_app().is_some();
            if !more_in && !more_out {
                return Ok(if blocked && self.pollout_lies {
                    Serviced::RetrySoon
                } else {
                    Serviced::Idle
                });
            }
        }
    }

    /// Reads everything the application sent before closing (no `can_send` check: the
    /// Vocket keeps what it cannot place yet, and lingers).
    pub(crate) fn drain(&mut self, v: &mut Vocket, now: Instant) {
        if !self.recv_ok {
            return;
        }
        while let Ok(Some(msg)) = self.recv() {
            v.handle_app(msg, now);
        }
    }

    pub(crate) fn close(self, registry: &mio::Registry) {
        let _ = registry.deregister(&mut SourceFd(&self.fd));
    }

    /// Writes what the Vocket has for the application; false when the pipe is full.
    fn write_out(&mut self, v: &mut Vocket) -> Result<bool, zmq::Error> {
        if !self.send_ok {
            while v.pop_to_app().is_some() {}
            return Ok(true);
        }
        while let Some(msg) = v.peek_to_app() {
            match send_msg(&mut self.socket, msg) {
                Ok(()) => {
                    v.pop_to_app();
                }
                Err(zmq::Error::EAGAIN) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn recv(&mut self) -> Result<Option<Msg>, zmq::Error> {
        let mut msg = Msg::new();
        loop {
            let frame = match self.socket.recv_msg(zmq::DONTWAIT) {
                Ok(f) => f,
                // libzmq delivers multipart messages atomically: EAGAIN can only come first.
                Err(zmq::Error::EAGAIN) if msg.is_empty() => return Ok(None),
                Err(e) => return Err(e),
            };
            let more = frame.get_more();
            msg.push(self.frame_to_bytes(frame));
            if !more {
                return Ok(Some(msg));
            }
        }
    }

    /// A frame as `Bytes`: a small one copied into the arena, a large one shared with
    /// libzmq.
    fn frame_to_bytes(&mut self, frame: zmq::Message) -> Bytes {
        if frame.len() > COPY_MAX {
            return Bytes::from_owner(ZmqFrame(frame));
        }
        if self.arena.capacity() - self.arena.len() < frame.len() {
            self.arena = BytesMut::with_capacity(ARENA_BLOCK);
        }
        self.arena.extend_from_slice(&frame);
        self.arena.split().freeze()
    }
}

struct ZmqFrame(zmq::Message);

impl AsRef<[u8]> for ZmqFrame {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Sends a whole message; EAGAIN can only happen on the first frame (libzmq queues the
/// rest of a message atomically once its first frame is accepted).
fn send_msg(socket: &mut zmq::Socket, msg: &Msg) -> Result<(), zmq::Error> {
    let n = msg.len();
    for (i, frame) in msg.iter().enumerate() {
        let flags = zmq::DONTWAIT | if i + 1 < n { zmq::SNDMORE } else { 0 };
        send_frame(socket, frame, flags)?;
    }
    if n == 0 {
        // A Vocket never queues an empty message; send one empty frame rather than nothing.
        socket.send(&[][..], zmq::DONTWAIT)?;
    }
    Ok(())
}

unsafe extern "C" fn release_bytes(_data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the `Box<Bytes>` leaked in `send_frame`, and libzmq calls this
    // exactly once, when the message is released.
    drop(unsafe { Box::from_raw(hint.cast::<Bytes>()) });
}

/// Sends one frame; large frames hand libzmq a reference to the `Bytes` instead of a copy.
fn send_frame(socket: &mut zmq::Socket, frame: &Bytes, flags: i32) -> Result<(), zmq::Error> {
    if frame.len() <= COPY_MAX {
        return socket.send(&frame[..], flags);
    }
    let owner = Box::new(frame.clone());
    let (data, len) = (owner.as_ptr().cast_mut().cast::<c_void>(), owner.len());
    let hint = Box::into_raw(owner).cast::<c_void>();
    let mut msg = zmq_sys::zmq_msg_t::default();
    // SAFETY: `data`/`len` point into the `Bytes` owned by `hint`, which stays alive until
    // libzmq calls `release_bytes`; libzmq never writes through `data`.
    unsafe {
        if zmq_sys::zmq_msg_init_data(&mut msg, data, len, Some(release_bytes), hint) != 0 {
            drop(Box::from_raw(hint.cast::<Bytes>()));
            return Err(zmq::Error::from_raw(zmq_sys::zmq_errno()));
        }
        if zmq_sys::zmq_msg_send(&mut msg, socket.as_mut_ptr(), flags) == -1 {
            let err = zmq::Error::from_raw(zmq_sys::zmq_errno());
            // Not consumed: closing it releases our Bytes through `release_bytes`.
            zmq_sys::zmq_msg_close(&mut msg);
            return Err(err);
        }
    }
    Ok(())
}

fn set_int_option(socket: &mut zmq::Socket, option: i32, value: i32) -> Result<(), zmq::Error> {
    // SAFETY: a valid socket pointer and a pointer/length pair to a live i32.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            option,
            (&value as *const i32).cast::<c_void>(),
            std::mem::size_of::<i32>(),
        )
    };
    if rc == -1 {
        Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }))
    } else {
        Ok(())
    }
}
