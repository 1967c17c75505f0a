//! The manager's side of a driver: spawning its thread and asking it things.
//!
//! Commands go over a channel and wake the driver's poller; each carries a one-shot
//! reply channel. If the driver thread has exited (shutdown or panic) the send or the
//! reply fails, and the caller gets [`Error::DriverGone`] instead of hanging.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::event_loop::EventLoop;
use super::{SocketId, SocketShared, Transport};
use crate::pattern::{PeerProperties, Stats};
use crate::{Endpoint, Error, Result, SocketOptions, SocketType};

pub(crate) type Reply<T> = SyncSender<Result<T>>;

/// A request from the manager to a driver thread.
pub(crate) enum Command {
    Open {
        sock: SocketId,
        ty: SocketType,
        opts: SocketOptions,
        shared: Arc<SocketShared>,
        reply: Reply<String>,
    },
    SetOptions {
        sock: SocketId,
        opts: SocketOptions,
        reply: Reply<()>,
    },
    Bind {
        sock: SocketId,
        endpoint: Endpoint,
        reply: Reply<String>,
    },
    Connect {
        sock: SocketId,
        endpoint: Endpoint,
        reply: Reply<()>,
    },
    Unbind {
        sock: SocketId,
        endpoint: String,
        reply: Reply<()>,
    },
    Disconnect {
        sock: SocketId,
        endpoint: String,
        reply: Reply<()>,
    },
    Close {
        sock: SocketId,
        reply: Reply<()>,
    },
    Meta {
        sock: SocketId,
        key: String,
        reply: Reply<Option<String>>,
    },
    Stats {
        sock: SocketId,
        reply: Reply<Stats>,
    },
    Properties {
        sock: SocketId,
        message: Option<u64>,
        reply: Reply<Option<Arc<PeerProperties>>>,
    },
    Monitor {
        sock: SocketId,
        endpoint: String,
        reply: Reply<()>,
    },
    Shutdown,
}

/// A running driver instance: its thread and the way to talk to it.
pub struct DriverHandle {
    scheme: String,
    tx: Mutex<Sender<Command>>,
    waker: Arc<mio::Waker>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// A command found the driver gone (its thread may still be unwinding).
    lost: AtomicBool,
}

impl fmt::Debug for DriverHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverHandle")
            .field("scheme", &self.scheme)
            .finish()
    }
}

impl DriverHandle {
    /// Starts a driver thread named `vtx-<scheme>` running `transport`.
    pub fn spawn<T: Transport>(
        scheme: &str,
        ctx: &zmq::Context,
        transport: T,
    ) -> Result<DriverHandle> {
        let poll = mio::Poll::new().map_err(|e| Error::io("create poller", e))?;
        let waker = Arc::new(
            mio::Waker::new(poll.registry(), super::event_loop::WAKER)
                .map_err(|e| Error::io("create waker", e))?,
        );
        let (tx, rx): (Sender<Command>, Receiver<Command>) = mpsc::channel();
        let (started_tx, started_rx) = mpsc::sync_channel(1);
        let event_loop = EventLoop::new(scheme, ctx.clone(), poll, rx, transport)?;
        let thread = std::thread::Builder::new()
            .name(format!("vtx-{scheme}"))
            .spawn(move || event_loop.run(started_tx))
            .map_err(|e| Error::io("spawn driver thread", e))?;
        let gone = || Error::DriverGone {
            driver: scheme.to_owned(),
        };
        started_rx.recv().map_err(|_| gone())??;
        Ok(DriverHandle {
            scheme: scheme.to_owned(),
            tx: Mutex::new(tx),
            waker,
            thread: Mutex::new(Some(thread)),
            lost: AtomicBool::new(false),
        })
    }

    /// The scheme this instance is registered under.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    fn gone(&self) -> Error {
        self.lost.store(true, Ordering::Relaxed);
        Error::DriverGone {
            driver: self.scheme.clone(),
        }
    }

    fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T> {
        let (reply, rx) = mpsc::sync_channel(1);
        {
            let tx = self.tx.lock().map_err(|_| self.gone())?;
            tx.send(make(reply)).map_err(|_| self.gone())?;
        }
        self.waker.wake().map_err(|_| self.gone())?;
        rx.recv().map_err(|_| self.gone())?
    }

    /// Creates the socket's Vocket and pipe; returns the inproc endpoint to connect to.
    /// The driver keeps `shared` current for the application's thread.
    pub fn open(
        &self,
        sock: SocketId,
        ty: SocketType,
        opts: SocketOptions,
        shared: Arc<SocketShared>,
    ) -> Result<String> {
        self.call(|reply| Command::Open {
            sock,
            ty,
            opts,
            shared,
            reply,
        })
    }

    /// Replaces a socket's options (they apply to later peerings).
    pub fn set_options(&self, sock: SocketId, opts: SocketOptions) -> Result<()> {
        self.call(|reply| Command::SetOptions { sock, opts, reply })
    }

    /// Binds; returns the endpoint bound. A host name is resolved here, on the
    /// calling thread: the driver thread never waits for a resolver.
    pub fn bind(&self, sock: SocketId, mut endpoint: Endpoint) -> Result<String> {
        endpoint.resolve_names()?;
        self.call(|reply| Command::Bind {
            sock,
            endpoint,
            reply,
        })
    }

    /// Connects. A host name is resolved here, on the calling thread, once: later
    /// reconnects use the same addresses.
    pub fn connect(&self, sock: SocketId, mut endpoint: Endpoint) -> Result<()> {
        endpoint.resolve_names()?;
        self.call(|reply| Command::Connect {
            sock,
            endpoint,
            reply,
        })
    }

    /// Unbinds.
    pub fn unbind(&self, sock: SocketId, endpoint: &str) -> Result<()> {
        self.call(|reply| Command::Unbind {
            sock,
            endpoint: endpoint.to_owned(),
            reply,
        })
    }

    /// Disconnects.
    pub fn disconnect(&self, sock: SocketId, endpoint: &str) -> Result<()> {
        self.call(|reply| Command::Disconnect {
            sock,
            endpoint: endpoint.to_owned(),
            reply,
        })
    }

    /// Closes the socket: the driver drains its pipe and lingers to flush.
    pub fn close(&self, sock: SocketId) -> Result<()> {
        self.call(|reply| Command::Close { sock, reply })
    }

    /// Reads a metadata key of the socket.
    pub fn meta(&self, sock: SocketId, key: &str) -> Result<Option<String>> {
        self.call(|reply| Command::Meta {
            sock,
            key: key.to_owned(),
            reply,
        })
    }

    /// The socket's counters.
    pub fn stats(&self, sock: SocketId) -> Result<Stats> {
        self.call(|reply| Command::Stats { sock, reply })
    }

    /// The properties of the peer that message `message` handed to the application came
    /// from (numbered from 0), or of the last one handed over (`None`).
    pub fn properties(
        &self,
        sock: SocketId,
        message: Option<u64>,
    ) -> Result<Option<Arc<PeerProperties>>> {
        self.call(|reply| Command::Properties {
            sock,
            message,
            reply,
        })
    }

    /// Starts publishing the socket's lifecycle events on a PAIR socket connected to
    /// `endpoint` (an inproc endpoint the application bound).
    pub fn monitor(&self, sock: SocketId, endpoint: &str) -> Result<()> {
        self.call(|reply| Command::Monitor {
            sock,
            endpoint: endpoint.to_owned(),
            reply,
        })
    }

    /// Asks the driver to close every socket (lingering at most each socket's linger)
    /// and exit, then joins its thread. Idempotent.
    pub fn shutdown(&self) {
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(Command::Shutdown);
        }
        let _ = self.waker.wake();
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread
            && t.join().is_err()
        {
            log::error!("driver `{}` panicked", self.scheme);
        }
    }

    /// Whether the driver thread is still running.
    pub fn is_alive(&self) -> bool {
        !self.lost.load(Ordering::Relaxed)
            && self
                .thread
                .lock()
                .ok()
                .and_then(|t| t.as_ref().map(|t| !t.is_finished()))
                .unwrap_or(false)
    }
}

impl Drop for DriverHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
