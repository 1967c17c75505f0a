//! [`Link`] for the OS streams mio offers (the orphan rule puts them here).

use std::io::{self, IoSlice, Read, Write};

use super::Link;

impl Link for mio::net::TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(self, buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Write::write_vectored(self, bufs)
    }

    fn connected(&mut self) -> io::Result<bool> {
        super::tcp::connect_finished(self)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
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
        super::tcp::connect_outcome(self.take_error()?, self.peer_addr().map(drop))
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}
