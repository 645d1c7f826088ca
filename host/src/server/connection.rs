//! One client connection: read what is available, parse every complete
//! request in it, run each, and write all their replies with one write.
//! Commands run on this task: no hop to another thread, no channel.

use super::client::{Client, ClientShared};
use super::protocol::{Limits, Request, RequestParser};
use super::reply::Out;
use super::Server;
use crate::commands;
use bytes::{Buf, BytesMut};
use smallvec::SmallVec;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Limits a connection caches, refreshed when CONFIG SET bumps the epoch.
struct Cached {
    epoch: u64,
    proto_max_bulk_len: u64,
    query_buffer_limit: u64,
    idle_timeout: Option<Duration>,
}

impl Cached {
    fn load(srv: &Server) -> Cached {
        let epoch = srv.config_epoch.load(Ordering::Acquire);
        let cfg = srv.config.read();
        Cached {
            epoch,
            proto_max_bulk_len: cfg.proto_max_bulk_len,
            query_buffer_limit: cfg.client_query_buffer_limit,
            idle_timeout: (cfg.timeout > 0).then(|| Duration::from_secs(cfg.timeout)),
        }
    }
}

/// Registers a new connection; the caller spawns [`handle`] with the result.
pub fn register(srv: &Server, stream: &TcpStream, addr: SocketAddr) -> Arc<ClientShared> {
    let laddr = stream.local_addr().unwrap_or(addr);
    srv.clients.register(addr, laddr, stream.as_raw_fd())
}

/// Owns a connection's client state and cleans up when dropped, which also
/// happens when CLIENT KILL aborts the task.
struct Connection {
    srv: Arc<Server>,
    client: Client,
}

impl Drop for Connection {
    fn drop(&mut self) {
        commands::tx::unwatch_all(&self.srv, &mut self.client);
        self.srv.clients.unregister(self.client.id());
    }
}

pub async fn handle(srv: Arc<Server>, mut stream: TcpStream, shared: Arc<ClientShared>) {
    let client = Client::new(shared, !srv.auth_required());
    let mut conn = Connection { srv, client };
    let mut out = Out::new(false);
    let _ = serve_client(&conn.srv, &mut stream, &mut conn.client, &mut out).await;
    if !out.is_empty() {
        let _ = stream.write_all(&out.buf).await;
    }
}

async fn serve_client(
    srv: &Server,
    stream: &mut TcpStream,
    client: &mut Client,
    out: &mut Out,
) -> std::io::Result<()> {
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    let mut parser = RequestParser::new();
    let mut cached = Cached::load(srv);
    let shared = client.shared.clone();
    loop {
        if shared.killed.load(Ordering::Acquire) {
            return Ok(());
        }
        let want = parser.wanted(inbuf.len());
        if inbuf.capacity() - inbuf.len() < 4096.max(want) {
            inbuf.reserve((16 * 1024).max(want));
        }
        let n = match cached.idle_timeout {
            Some(t) => tokio::time::timeout(t, stream.read_buf(&mut inbuf))
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))?,
            None => stream.read_buf(&mut inbuf).await?,
        };
        if n == 0 {
            return Ok(());
        }
        srv.stats
            .net_input_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        if srv.config_epoch.load(Ordering::Acquire) != cached.epoch {
            cached = Cached::load(srv);
        }
        let limits = Limits {
            proto_max_bulk_len: cached.proto_max_bulk_len,
            authenticated: client.authenticated,
        };
        let mut protocol_error = None;
        let now_ms = commands::unix_ms();
        let batch_started = std::time::Instant::now();
        loop {
            let limits = Limits {
                authenticated: client.authenticated || !srv.auth_required(),
                ..limits
            };
            match parser.parse(&inbuf, &limits) {
                Ok(Some(Request::Multibulk)) => {
                    let argv: SmallVec<[&[u8]; 8]> =
                        parser.ranges().iter().map(|&(a, b)| &inbuf[a..b]).collect();
                    run(srv, client, out, &argv, now_ms);
                }
                Ok(Some(Request::Inline(args))) => {
                    let argv: SmallVec<[&[u8]; 8]> = args.iter().map(|a| a.as_slice()).collect();
                    run(srv, client, out, &argv, now_ms);
                }
                Ok(Some(Request::Empty)) => {}
                Ok(None) => break,
                Err(e) => {
                    protocol_error = Some(e);
                    break;
                }
            }
            if client.close {
                break;
            }
        }
        account_batch(srv, client, batch_started);
        let consumed = parser.consumed();
        inbuf.advance(consumed);
        parser.shift(consumed);
        shared.qbuf.store(inbuf.len(), Ordering::Relaxed);
        if let Some(e) = protocol_error {
            out.error(&format!("ERR {}", e.0));
            client.close = true;
        }
        if !out.is_empty() {
            srv.stats
                .net_output_bytes
                .fetch_add(out.len() as u64, Ordering::Relaxed);
            stream.write_all(&out.buf).await?;
            out.buf.clear();
            // A huge reply (KEYS *) must not pin its buffer for the connection's life.
            if out.buf.capacity() > 1 << 20 {
                out.buf = Vec::with_capacity(16 * 1024);
            }
        }
        if client.close {
            return Ok(());
        }
        if inbuf.len() as u64 > cached.query_buffer_limit {
            crate::log::warning(&format!(
                "Closing client that reached max query buffer length: id={} (qbuf initial bytes: {:?})",
                client.id(),
                String::from_utf8_lossy(&inbuf[..inbuf.len().min(64)])
            ));
            return Ok(());
        }
        if inbuf.is_empty() && inbuf.capacity() > 1 << 20 {
            inbuf = BytesMut::with_capacity(16 * 1024);
        }
    }
}

/// Adds the batch's time to commandstats, split evenly among its commands.
fn account_batch(srv: &Server, client: &mut Client, started: std::time::Instant) {
    if client.batch.is_empty() {
        return;
    }
    let usec = started.elapsed().as_micros() as u64;
    let n = client.batch.len() as u64;
    for (i, id) in client.batch.drain(..).enumerate() {
        // Spread the remainder so the total is exact.
        let share = usec / n + u64::from((i as u64) < usec % n);
        if let Some(cmd) = srv.commands.by_id(id) {
            cmd.stats.usec.fetch_add(share, Ordering::Relaxed);
        }
    }
}

#[inline]
fn run(srv: &Server, client: &mut Client, out: &mut Out, argv: &[&[u8]], now_ms: i64) {
    srv.stats.commands_processed.fetch_add(1, Ordering::Relaxed);
    commands::execute(srv, client, out, argv, now_ms);
}
