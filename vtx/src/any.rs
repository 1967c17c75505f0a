//! [`Socket`]: the data path of a 0MQ socket, native or vtx, for code that takes both.

use crate::VtxSocket;

/// What an application does with a connected 0MQ socket, for code that works the same
/// with a native libzmq socket and a [`VtxSocket`] (a proxy, a test, a helper that
/// drains a socket). The methods are libzmq's, with its signatures and errors.
///
/// ```
/// fn drain(s: &impl vtx::Socket) -> usize {
///     let mut n = 0;
///     while s.recv_multipart(zmq::DONTWAIT).is_ok() {
///         n += 1;
///     }
///     n
/// }
/// let ctx = zmq::Context::new();
/// let native = ctx.socket(zmq::PULL).unwrap();
/// assert_eq!(drain(&native), 0);
/// let vtx = vtx::Vtx::new(&ctx);
/// assert_eq!(drain(&vtx.socket(zmq::PULL).unwrap()), 0);
/// ```
pub trait Socket {
    /// Sends a frame (`zmq::SNDMORE` for more to come).
    fn send<T: Into<zmq::Message>>(&self, data: T, flags: i32) -> zmq::Result<()>;
    /// Sends a message frame by frame.
    fn send_multipart<I, T>(&self, iter: I, flags: i32) -> zmq::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: Into<zmq::Message>;
    /// Receives a frame into `msg`.
    fn recv(&self, msg: &mut zmq::Message, flags: i32) -> zmq::Result<()>;
    /// Receives a frame as bytes.
    fn recv_bytes(&self, flags: i32) -> zmq::Result<Vec<u8>>;
    /// Receives every frame of a message.
    fn recv_multipart(&self, flags: i32) -> zmq::Result<Vec<Vec<u8>>>;
    /// RCVTIMEO in milliseconds.
    fn get_rcvtimeo(&self) -> zmq::Result<i32>;
    /// Sets RCVTIMEO in milliseconds.
    fn set_rcvtimeo(&self, ms: i32) -> zmq::Result<()>;
    /// Sets SNDTIMEO in milliseconds.
    fn set_sndtimeo(&self, ms: i32) -> zmq::Result<()>;
    /// SUB: subscribes to a topic prefix.
    fn set_subscribe(&self, topic: &[u8]) -> zmq::Result<()>;
    /// A poll item for `zmq::poll`.
    fn as_poll_item(&self, events: zmq::PollEvents) -> zmq::PollItem<'_>;
}

/// Implements [`Socket`] by the type's own methods of the same names.
macro_rules! socket_by_inherent_methods {
    ($ty:ty) => {
        impl Socket for $ty {
            fn send<T: Into<zmq::Message>>(&self, data: T, flags: i32) -> zmq::Result<()> {
                <$ty>::send(self, data.into(), flags)
            }
            fn send_multipart<I, T>(&self, iter: I, flags: i32) -> zmq::Result<()>
            where
                I: IntoIterator<Item = T>,
                T: Into<zmq::Message>,
            {
                <$ty>::send_multipart(self, iter, flags)
            }
            fn recv(&self, msg: &mut zmq::Message, flags: i32) -> zmq::Result<()> {
                <$ty>::recv(self, msg, flags)
            }
            fn recv_bytes(&self, flags: i32) -> zmq::Result<Vec<u8>> {
                <$ty>::recv_bytes(self, flags)
            }
            fn recv_multipart(&self, flags: i32) -> zmq::Result<Vec<Vec<u8>>> {
                <$ty>::recv_multipart(self, flags)
            }
            fn get_rcvtimeo(&self) -> zmq::Result<i32> {
                <$ty>::get_rcvtimeo(self)
            }
            fn set_rcvtimeo(&self, ms: i32) -> zmq::Result<()> {
                <$ty>::set_rcvtimeo(self, ms)
            }
            fn set_sndtimeo(&self, ms: i32) -> zmq::Result<()> {
                <$ty>::set_sndtimeo(self, ms)
            }
            fn set_subscribe(&self, topic: &[u8]) -> zmq::Result<()> {
                <$ty>::set_subscribe(self, topic)
            }
            fn as_poll_item(&self, events: zmq::PollEvents) -> zmq::PollItem<'_> {
                <$ty>::as_poll_item(self, events)
            }
        }
    };
}

socket_by_inherent_methods!(zmq::Socket);
socket_by_inherent_methods!(VtxSocket);
