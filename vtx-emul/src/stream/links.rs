//! [`Link`] for the OS streams mio offers (the orphan rule puts them here).

use std::io::{self, IoSlice, Read, Write};

use super::Link;

/// Whether a non-blocking connect finished: an error, or a peer address.
macro_rules! connected {
    ($s:expr) => {{
        if let Some(e) = $s.take_error()? {
            return Err(e);
        }
        match $s.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }};
}

impl Link for mio::net::TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(self, buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Write::write_vectored(self, bufs)
    }

    fn connected(&mut self) -> io::Result<bool> {
        connected!(self)
    }
}

impl Link for mio::net::UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(self, buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Write::write_vectored(self, bufs)
    }

    fn connected(&mut self) -> io::Result<bool> {
        connected!(self)
    }
}
