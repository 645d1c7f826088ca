//! The byte streams a client connection runs over: plain TCP, a unix socket
//! or TLS on TCP. [`Transport`] is the little the connection loop
//! (connection.rs) needs from one; the loop is generic over it, so each
//! kind gets its own compiled copy and plain TCP keeps its direct
//! readiness-then-`try_*` calls with nothing in between.

use bytes::BytesMut;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::server::TlsStream;

/// What [`Transport::ready_io`] found.
pub enum Io {
    /// This many bytes were appended to the buffer; 0 is end of stream.
    Read(usize),
    /// Pending output can make progress ([`Transport::try_write_now`]).
    Writable,
}

/// What the connection loop needs from a client's stream.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Waits for input and appends what is available to `buf`; 0 is end of
    /// stream. Cancel-safe: dropped before it completes, nothing was read.
    fn read_some<'a>(
        &'a mut self,
        buf: &'a mut BytesMut,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;

    /// Waits for input (read into `buf`) or, when `want_write`, for room
    /// to write, whichever comes first (room first when both). Cancel-safe.
    fn ready_io<'a>(
        &'a mut self,
        want_write: bool,
        buf: &'a mut BytesMut,
    ) -> impl Future<Output = io::Result<Io>> + Send + 'a;

    /// Writes what the stream takes without waiting; `WouldBlock` when it
    /// takes nothing now.
    fn try_write_now(&mut self, buf: &[u8]) -> io::Result<usize>;

    /// True while bytes accepted by `try_write_now` still wait inside the
    /// transport (TLS records not yet on the socket). Plain sockets buffer
    /// nothing of their own.
    fn has_buffered_output(&self) -> bool {
        false
    }

    /// The plain TCP socket, for what only runs over one (serving a replica).
    fn as_tcp(&mut self) -> Option<&mut TcpStream> {
        None
    }

    /// Writes all of `buf` and pushes it to the peer.
    fn write_all_flush<'a>(
        &'a mut self,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        async move {
            self.write_all(buf).await?;
            self.flush().await
        }
    }
}

/// The readiness-based socket streams (TCP, unix): wait for readiness,
/// then read or write without blocking.
macro_rules! socket_transport {
    ($ty:ty $(, $extra:item)*) => {
        impl Transport for $ty {
            #[inline]
            async fn read_some<'a>(&'a mut self, buf: &'a mut BytesMut) -> io::Result<usize> {
                loop {
                    self.readable().await?;
                    match self.try_read_buf(buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        r => return r,
                    }
                }
            }

            #[inline]
            async fn ready_io<'a>(
                &'a mut self,
                want_write: bool,
                buf: &'a mut BytesMut,
            ) -> io::Result<Io> {
                loop {
                    tokio::select! {
                        biased;
                        r = self.writable(), if want_write => {
                            r?;
                            return Ok(Io::Writable);
                        }
                        r = self.readable() => {
                            r?;
                            match self.try_read_buf(buf) {
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                                r => return r.map(Io::Read),
                            }
                        }
                    }
                }
            }

            #[inline]
            fn try_write_now(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.try_write(buf)
            }

            $($extra)*
        }
    };
}

socket_transport!(
    TcpStream,
    #[inline]
    fn as_tcp(&mut self) -> Option<&mut TcpStream> {
        Some(self)
    }
);
socket_transport!(UnixStream);

impl Transport for TlsStream<TcpStream> {
    async fn read_some<'a>(&'a mut self, buf: &'a mut BytesMut) -> io::Result<usize> {
        // tokio-rustls's poll_read only moves decrypted bytes into `buf`
        // when it returns Ready, so read_buf is cancel-safe.
        self.read_buf(buf).await
    }

    async fn ready_io<'a>(&'a mut self, want_write: bool, buf: &'a mut BytesMut) -> io::Result<Io> {
        poll_fn(|cx| {
            if want_write {
                let ready = if self.has_buffered_output() {
                    // Room once the buffered records are on the socket.
                    Pin::new(&mut *self).poll_flush(cx)
                } else {
                    self.get_ref().0.poll_write_ready(cx)
                };
                if let Poll::Ready(r) = ready {
                    return Poll::Ready(r.map(|()| Io::Writable));
                }
            }
            poll_read_into(Pin::new(&mut *self), cx, buf).map(|r| r.map(Io::Read))
        })
        .await
    }

    fn try_write_now(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Polled once with a waker that wakes nothing: the loop waits with
        // ready_io afterwards, which polls the socket again with the task's
        // own waker, so no wake-up is lost.
        let mut cx = Context::from_waker(Waker::noop());
        let n = match Pin::new(&mut *self).poll_write(&mut cx, buf) {
            Poll::Ready(r) => r?,
            Poll::Pending => return Err(io::ErrorKind::WouldBlock.into()),
        };
        // Push the records out now if the socket takes them.
        if let Poll::Ready(Err(e)) = Pin::new(&mut *self).poll_flush(&mut cx) {
            return Err(e);
        }
        Ok(n)
    }

    fn has_buffered_output(&self) -> bool {
        self.get_ref().1.wants_write()
    }
}

/// One poll_read appending to `buf` (grown with zeroes for the read, then
/// cut back to what was read): safe code, at the price of zeroing the
/// spare room, which only the TLS path pays.
fn poll_read_into<R: AsyncRead>(
    reader: Pin<&mut R>,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    let start = buf.len();
    let room = (buf.capacity() - start).max(4096);
    buf.resize(start + room, 0);
    let mut rb = ReadBuf::new(&mut buf[start..]);
    let r = reader.poll_read(cx, &mut rb);
    let n = rb.filled().len();
    buf.truncate(start + n);
    r.map(|r| r.map(|()| n))
}
