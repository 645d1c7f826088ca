//! One client connection: read what is available, parse every complete
//! request in it, run each, and write all their replies with one write.
//! Commands run on this task: no hop to another thread, no channel.

use super::client::{output_limit_reached, Client, ClientShared};
use super::protocol::{Limits, Request, RequestParser};
use super::reply::Out;
use super::transport::{Io, Transport};
use super::Server;
use crate::commands;
use crate::commands::blocking::Blocked;
use crate::store::blocking::Wakeup;
use bytes::{Buf, BytesMut};
use smallvec::SmallVec;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Limits a connection caches, refreshed when CONFIG SET bumps the epoch.
struct Cached {
    epoch: u64,
    proto_max_bulk_len: u64,
    query_buffer_limit: u64,
    /// `client-output-buffer-limit normal` (pub/sub subscribers are judged
    /// as their messages are queued, server/pubsub.rs).
    normal_limit: crate::config::OutputBufferLimit,
}

impl Cached {
    fn load(srv: &Server) -> Cached {
        let epoch = srv.config_epoch.load(Ordering::Acquire);
        let cfg = srv.config.read();
        Cached {
            epoch,
            proto_max_bulk_len: cfg.proto_max_bulk_len,
            query_buffer_limit: cfg.client_query_buffer_limit,
            normal_limit: cfg.client_output_buffer_limit.normal,
        }
    }
}

/// Owns a connection's client state and cleans up when dropped, which also
/// happens when CLIENT KILL aborts the task.
struct Connection {
    srv: Arc<Server>,
    client: Client,
}

impl Drop for Connection {
    fn drop(&mut self) {
        commands::pubsub::unsubscribe_all(&self.srv, &mut self.client);
        if let Some(w) = self.client.blocked_waiter.take() {
            // Killed while parked: withdraw from the wait queues.
            w.cancel();
            self.srv
                .stats
                .blocked_clients
                .fetch_sub(1, Ordering::Relaxed);
            commands::blocking::cleanup(&self.srv, &w);
        }
        commands::tx::unwatch_all(&self.srv, &mut self.client);
        commands::monitor::stop(&self.srv, &mut self.client);
        self.srv.tracking.disable(&mut self.client);
        self.srv.clients.unregister(self.client.id());
    }
}

/// Serves one client until it leaves or is closed. Generic over the
/// stream so that each transport gets its own compiled loop (plain TCP
/// pays nothing for TLS existing).
pub async fn handle<S: Transport>(srv: Arc<Server>, mut stream: S, shared: Arc<ClientShared>) {
    let client = Client::new(shared, !srv.auth_required());
    let mut conn = Connection { srv, client };
    let mut out = Out::new(false);
    let _ = serve_client(&conn.srv, &mut stream, &mut conn.client, &mut out).await;
    if !out.is_empty() && !conn.client.shared.killed.load(Ordering::Acquire) {
        if let Some(target) = conn.srv.aof.barrier() {
            conn.srv.aof.wait_synced(target).await;
        }
        let _ = stream.write_all_flush(&out.buf).await;
    }
    let big = out.buf.capacity() > BIG_BUFFER;
    drop(out);
    if big {
        // A big reply buffer goes back to the system, not to a cache.
        crate::alloc::release_freed();
    }
}

/// A client held by a pause, counted as blocked until dropped (also
/// when CLIENT KILL aborts the wait).
struct Held<'a>(&'a Server, &'a ClientShared);

impl<'a> Held<'a> {
    fn new(srv: &'a Server, shared: &'a ClientShared) -> Self {
        shared.set_flag(super::client::FLAG_BLOCKED, true);
        srv.stats.blocked_clients.fetch_add(1, Ordering::Relaxed);
        Held(srv, shared)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.stats.blocked_clients.fetch_sub(1, Ordering::Relaxed);
        self.1.set_flag(super::client::FLAG_BLOCKED, false);
    }
}

/// Calls [`crate::alloc::release_freed`] when dropped, if set.
struct ReleaseOnDrop(bool);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        if self.0 {
            crate::alloc::release_freed();
        }
    }
}

/// Buffers above this are given back once drained, not kept for reuse.
const BIG_BUFFER: usize = 1 << 20;

/// Closes a client over its output buffer limit, as Redis logs it.
fn close_over_limit(srv: &Server, client: &Client) {
    crate::log::warning(&format!(
        "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
        client.shared.info_line(&srv.commands)
    ));
    client.shared.killed.store(true, Ordering::Release);
}

async fn serve_client<S: Transport>(
    srv: &Arc<Server>,
    stream: &mut S,
    client: &mut Client,
    out: &mut Out,
) -> std::io::Result<()> {
    // Declared before the buffers, so dropped after them: a big query
    // buffer freed when the connection ends goes back to the system.
    let mut release = ReleaseOnDrop(false);
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    let mut parser = RequestParser::new();
    let mut cached = Cached::load(srv);
    let shared = client.shared.clone();
    // How much of `out` is already on the socket.
    let mut written = 0;
    // When the pending output went over the soft limit (output_limit_reached).
    let mut over_soft_since = None;
    // The query buffer was grown past BIG_BUFFER (a large bulk): replaced
    // once drained. BytesMut's capacity shrinks as it is consumed, so the
    // capacity alone cannot tell that it still pins a big allocation.
    let mut big_inbuf = false;
    loop {
        // Run every complete request already buffered (stopping early when
        // the client blocks or must close), then send their replies together.
        if !inbuf.is_empty() && client.blocked.is_none() && !client.close {
            if srv.config_epoch.load(Ordering::Acquire) != cached.epoch {
                cached = Cached::load(srv);
            }
            let limit = (client.sub.is_none() && cached.normal_limit.hard_limit_bytes > 0)
                .then_some(cached.normal_limit.hard_limit_bytes as usize + written);
            run_buffered(
                srv,
                client,
                out,
                &mut inbuf,
                &mut parser,
                cached.proto_max_bulk_len,
                limit,
            );
        }
        // The normal class's limits (a subscriber's messages are judged
        // when queued); checked before writing, as Redis checks on append.
        if client.sub.is_none() {
            let pending = (out.buf.len() - written) as u64;
            if output_limit_reached(&cached.normal_limit, pending, &mut over_soft_since) {
                close_over_limit(srv, client);
                out.buf.clear();
                return Ok(());
            }
        }
        // The invalidations this batch sent, taken from the thread before
        // any await (the task may move to another thread at one).
        let sent = if srv.tracking.active() {
            srv.tracking.flush(client.id());
            super::tracking::take_sent()
        } else {
            Vec::new()
        };
        // Effects reach the AOF before the replies that acknowledge them.
        if let Some(target) = srv.aof.barrier() {
            srv.aof.wait_synced(target).await;
        }
        // Invalidations reach the clients caching what this batch wrote
        // before its replies go out (server/tracking.rs).
        {
            for (target, seq) in sent {
                // Frames sent to us meanwhile are taken as we wait: two
                // writers invalidating each other must not wait on each other.
                let taken = target.pushes.wait_taken(seq);
                tokio::pin!(taken);
                loop {
                    tokio::select! {
                        _ = &mut taken => break,
                        frame = next_push(&mut client.push_rx) => {
                            if let Some(frame) = frame {
                                take_pushes(client, frame, out);
                                shared.pushes.mark_taken(client.push_taken);
                            }
                        }
                    }
                }
            }
        }
        if out.buf.len() > shared.obuf_peak.load(Ordering::Relaxed) {
            shared.obuf_peak.store(out.buf.len(), Ordering::Relaxed);
        }
        try_flush(srv, stream, out, &mut written)?;
        if shared.obuf_peak.load(Ordering::Relaxed) > out.buf.capacity() {
            // The big buffer was given back: the peak starts over.
            shared.obuf_peak.store(0, Ordering::Relaxed);
        }
        if client.push_taken != 0 {
            shared.pushes.mark_taken(client.push_taken);
        }
        publish_sizes(&shared, &inbuf, out, written, client);
        if shared.killed.load(Ordering::Acquire) {
            // Killed (CLIENT KILL, output limits): pending output is dropped.
            out.buf.clear();
            return Ok(());
        }
        // SCRIPT DEBUG's session: the socket goes to the debugger until the
        // script ends; then the connection closes, as Redis closes it.
        if let Some(eval) = commands::ldb::take_pending(client) {
            stream.write_all_flush(&out.buf[written..]).await?;
            out.buf.clear();
            return commands::ldb::serve(srv, stream, client, out, eval).await;
        }
        if client.close {
            stream.write_all_flush(&out.buf[written..]).await?;
            out.buf.clear();
            return Ok(());
        }
        if let Some(held) = client.paused.take() {
            // Held by a pause (CLIENT PAUSE, FAILOVER, SHUTDOWN): wait for
            // its end, then run the command (dispatch checks it again).
            stream.write_all_flush(&out.buf[written..]).await?;
            out.buf.clear();
            written = 0;
            // A held client is blocked as Redis's BLOCKED_POSTPONE: `b`
            // in CLIENT LIST, counted in blocked_clients.
            {
                let _held = Held::new(srv, &client.shared);
                wait_unpaused(srv, stream, &mut inbuf, held.may_replicate).await?;
            }
            let argv: SmallVec<[&[u8]; 8]> = held.argv.iter().map(|a| a.as_slice()).collect();
            srv.stats.commands_processed.fetch_add(1, Ordering::Relaxed);
            run(srv, client, out, &argv, commands::unix_ms());
            account_batch(srv, client, std::time::Instant::now());
            count_errors(srv, out);
            continue;
        }
        if let Some(blocked) = client.blocked.take() {
            stream.write_all_flush(&out.buf[written..]).await?;
            out.buf.clear();
            written = 0;
            wait_blocked(srv, stream, client, out, &mut inbuf, blocked).await?;
            continue;
        }
        if let Some(repl) = client.repl.as_mut() {
            // WAIT blocks until replicas acknowledge; SYNC/PSYNC hands the
            // socket to the primary side of replication for good.
            if let Some(wait) = repl.wait.take() {
                stream.write_all_flush(&out.buf[written..]).await?;
                out.buf.clear();
                written = 0;
                let n = crate::repl::primary::wait_acks(srv, wait, stream, &mut inbuf).await?;
                out.int(n);
                continue;
            }
            if repl.handoff.is_some() {
                stream.write_all_flush(&out.buf[written..]).await?;
                out.buf.clear();
                let Some(tcp) = stream.as_tcp() else {
                    // The replication stream is written for a plain socket
                    // (repl/primary.rs); over TLS or a unix socket the
                    // replica is told so and the link closed.
                    crate::log::warning(
                        "Replica connected over TLS or a unix socket: not supported, closing it",
                    );
                    let _ = stream
                        .write_all_flush(b"-ERR Ember serves replicas over plain TCP only\r\n")
                        .await;
                    return Ok(());
                };
                return crate::repl::primary::serve_replica(srv, tcp, client, &mut inbuf).await;
            }
            // SHUTDOWN waiting for replicas: the process exits, or the
            // shutdown is aborted (or its save failed) and we say so.
            if std::mem::take(&mut repl.shutdown_wait) {
                stream.write_all_flush(&out.buf[written..]).await?;
                out.buf.clear();
                written = 0;
                let cancelled = srv.repl.shutdown.cancelled();
                tokio::pin!(cancelled);
                loop {
                    if inbuf.capacity() - inbuf.len() < 4096 {
                        inbuf.reserve(16 * 1024);
                    }
                    tokio::select! {
                        _ = &mut cancelled => break,
                        n = stream.read_some(&mut inbuf) => {
                            if n? == 0 {
                                return Ok(());
                            }
                        }
                    }
                }
                out.error(crate::repl::shutdown::FAILED);
                count_errors(srv, out);
                continue;
            }
        }
        if inbuf.len() as u64 > cached.query_buffer_limit {
            crate::log::warning(&format!(
                "Closing client that reached max query buffer length: id={} (qbuf initial bytes: {:?})",
                client.id(),
                String::from_utf8_lossy(&inbuf[..inbuf.len().min(64)])
            ));
            return Ok(());
        }
        if inbuf.is_empty() && big_inbuf {
            inbuf = BytesMut::with_capacity(16 * 1024);
            big_inbuf = false;
            crate::alloc::release_freed();
        }
        let want = parser.wanted(inbuf.len());
        if inbuf.capacity() - inbuf.len() < 4096.max(want) {
            inbuf.reserve((16 * 1024).max(want));
            big_inbuf |= inbuf.capacity() > BIG_BUFFER;
            release.0 |= big_inbuf;
        }
        // Wait for input, for room to write pending output, or for a pub/sub
        // message. Input is read even while output is pending, as Redis does:
        // a client that writes a whole pipeline before reading must not deadlock.
        let pending = written < out.buf.len() || stream.has_buffered_output();
        let subscribed = client.sub.is_some() && out.buf.len() - written < MESSAGE_OUTPUT_MAX;
        let monitoring = client.monitor.is_some() && out.buf.len() - written < MESSAGE_OUTPUT_MAX;
        tokio::select! {
            // Queued pub/sub messages go out before the reply to anything read
            // later (a PING after a PUBLISH must come back after its message).
            biased;
            msg = next_message(&mut client.sub), if subscribed => {
                if let (Some(msg), Some(sub)) = (msg, client.sub.as_mut()) {
                    queue_messages(sub, msg, out);
                }
            }
            frame = next_push(&mut client.push_rx) => {
                if let Some(frame) = frame {
                    take_pushes(client, frame, out);
                }
            }
            line = next_monitor_line(&mut client.monitor), if monitoring => match line {
                Some(line) => queue_monitor_lines(client, line, out),
                // Dropped for falling too far behind.
                None => return Ok(()),
            },
            r = stream.ready_io(pending, &mut inbuf) => match r? {
                Io::Writable => {}
                Io::Read(0) => return Ok(()),
                Io::Read(n) => {
                    srv.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    shared.last_active_ms.store(commands::unix_ms() as u64, Ordering::Relaxed);
                }
            },
        }
    }
}

async fn next_push(
    rx: &mut Option<tokio::sync::mpsc::UnboundedReceiver<bytes::Bytes>>,
) -> Option<bytes::Bytes> {
    match rx.as_mut() {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Moves an invalidation frame and those queued behind it into the output.
fn take_pushes(client: &mut Client, first: bytes::Bytes, out: &mut Out) {
    out.raw(&first);
    client.push_taken += 1;
    if let Some(rx) = client.push_rx.as_mut() {
        while let Ok(f) = rx.try_recv() {
            out.raw(&f);
            client.push_taken += 1;
        }
    }
}

async fn next_message(sub: &mut Option<commands::pubsub::SubState>) -> Option<bytes::Bytes> {
    match sub.as_mut() {
        Some(sub) => sub.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Publishes the buffer sizes CLIENT LIST, INFO and MEMORY read.
#[inline]
fn publish_sizes(
    shared: &ClientShared,
    inbuf: &BytesMut,
    out: &Out,
    written: usize,
    client: &Client,
) {
    shared.qbuf.store(inbuf.len(), Ordering::Relaxed);
    shared.qbuf_cap.store(inbuf.capacity(), Ordering::Relaxed);
    shared.obuf_cap.store(out.buf.capacity(), Ordering::Relaxed);
    let queued = client.sub.as_ref().map_or(0, |s| s.subscriber.pending());
    shared
        .omem
        .store(out.buf.len() - written + queued, Ordering::Relaxed);
}

async fn next_monitor_line(
    rx: &mut Option<tokio::sync::mpsc::Receiver<bytes::Bytes>>,
) -> Option<bytes::Bytes> {
    match rx.as_mut() {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Moves a MONITOR line and those already queued behind it into the output.
fn queue_monitor_lines(client: &mut Client, first: bytes::Bytes, out: &mut Out) {
    out.raw(&first);
    if let Some(rx) = client.monitor.as_mut() {
        while out.buf.len() < MESSAGE_OUTPUT_MAX {
            match rx.try_recv() {
                Ok(line) => out.raw(&line),
                Err(_) => break,
            }
        }
    }
}

/// Writes as much pending output as the socket takes without waiting.
fn try_flush<S: Transport>(
    srv: &Server,
    stream: &mut S,
    out: &mut Out,
    written: &mut usize,
) -> std::io::Result<()> {
    while *written < out.buf.len() {
        match stream.try_write_now(&out.buf[*written..]) {
            Ok(n) => {
                *written += n;
                srv.stats
                    .net_output_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    if *written == out.buf.len() && *written > 0 {
        out.buf.clear();
        *written = 0;
        // A huge reply (KEYS *) must not pin its buffer for the connection's life.
        if out.buf.capacity() > BIG_BUFFER {
            out.buf = Vec::with_capacity(16 * 1024);
            crate::alloc::release_freed();
        }
    }
    Ok(())
}

/// Parses and runs the complete requests in `inbuf`, consuming them.
fn run_buffered(
    srv: &Server,
    client: &mut Client,
    out: &mut Out,
    inbuf: &mut BytesMut,
    parser: &mut RequestParser,
    proto_max_bulk_len: u64,
    output_limit: Option<usize>,
) {
    let mut protocol_error = None;
    let mut proto_max_bulk_len = proto_max_bulk_len;
    let epoch = srv.config_epoch.load(Ordering::Acquire);
    let batch_started = std::time::Instant::now();
    let mut processed = 0u64;
    // One clock read per command: the reading after a command ends it and
    // starts the next one.
    let mut clock_us = commands::unix_us();
    loop {
        let limits = Limits {
            proto_max_bulk_len,
            authenticated: client.authenticated || !srv.auth_required(),
        };
        match parser.parse(inbuf, &limits) {
            Ok(Some(Request::Multibulk)) => {
                let argv: SmallVec<[&[u8]; 8]> =
                    parser.ranges().iter().map(|&(a, b)| &inbuf[a..b]).collect();
                clock_us = run_timed(srv, client, out, &argv, clock_us);
                processed += 1;
            }
            Ok(Some(Request::Inline(args))) => {
                let argv: SmallVec<[&[u8]; 8]> = args.iter().map(|a| a.as_slice()).collect();
                clock_us = run_timed(srv, client, out, &argv, clock_us);
                processed += 1;
            }
            Ok(Some(Request::Empty)) => {}
            Ok(None) => break,
            Err(e) => {
                protocol_error = Some(e);
                break;
            }
        }
        if client.close
            || client.blocked.is_some()
            || client.paused.is_some()
            || client
                .repl
                .as_ref()
                .is_some_and(|r| r.wait.is_some() || r.handoff.is_some() || r.shutdown_wait)
        {
            break;
        }
        // Over the hard output limit: stop here, the caller closes the
        // client (the rest of the pipeline would only add to the pile).
        if output_limit.is_some_and(|l| out.buf.len() >= l) {
            break;
        }
        // A CONFIG SET in this batch applies to the next request already.
        if srv.config_epoch.load(Ordering::Relaxed) != epoch {
            proto_max_bulk_len = srv.config.read().proto_max_bulk_len;
        }
    }
    account_batch(srv, client, batch_started);
    count_errors(srv, out);
    if processed > 0 {
        srv.stats
            .commands_processed
            .fetch_add(processed, Ordering::Relaxed);
    }
    let consumed = parser.consumed();
    inbuf.advance(consumed);
    parser.shift(consumed);
    if let Some(e) = protocol_error {
        out.error(&format!("ERR {}", e.0));
        client.close = true;
    }
}

/// Most output a subscriber may have waiting before its messages stay queued.
const MESSAGE_OUTPUT_MAX: usize = 64 * 1024;

/// Moves a message and any others already queued into the output buffer.
fn queue_messages(sub: &mut commands::pubsub::SubState, first: bytes::Bytes, out: &mut Out) {
    let mut n = first.len();
    out.raw(&first);
    // Bounded, so messages a slow reader has not taken stay in its queue,
    // where they count against client-output-buffer-limit pubsub.
    while out.buf.len() < MESSAGE_OUTPUT_MAX {
        match sub.rx.try_recv() {
            Ok(m) => {
                n += m.len();
                out.raw(&m);
            }
            Err(_) => break,
        }
    }
    sub.subscriber.written(n);
}

/// Waits while the client is parked on keys: until a writer serves it, its
/// timeout passes, or it disconnects. Commands it sends meanwhile are
/// buffered, as in Redis, and run after it is unblocked.
async fn wait_blocked<S: Transport>(
    srv: &Server,
    stream: &mut S,
    client: &mut Client,
    out: &mut Out,
    inbuf: &mut BytesMut,
    mut blocked: Blocked,
) -> std::io::Result<()> {
    client.blocked_waiter = Some(blocked.waiter.clone());
    *client.shared.blocked_on.lock() = Some(blocked.waiter.clone());
    let argv_mem = blocked.argv.iter().map(|a| a.len()).sum();
    client.shared.argv_mem.store(argv_mem, Ordering::Relaxed);
    client.shared.set_flag(super::client::FLAG_BLOCKED, true);
    srv.stats.blocked_clients.fetch_add(1, Ordering::Relaxed);
    let result = wait_wakeup(stream, inbuf, &mut blocked, client).await;
    srv.stats.blocked_clients.fetch_sub(1, Ordering::Relaxed);
    client.blocked_waiter = None;
    *client.shared.blocked_on.lock() = None;
    client.shared.argv_mem.store(0, Ordering::Relaxed);
    client.shared.unblock.store(0, Ordering::Relaxed);
    client.shared.set_flag(super::client::FLAG_BLOCKED, false);
    commands::blocking::cleanup(srv, &blocked.waiter);
    match result? {
        Wakeup::Reply(bytes) => out.raw(&bytes),
        Wakeup::Retry => {
            // Served by a writer that could not lock every key: run the command again.
            let argv: SmallVec<[&[u8]; 8]> = blocked.argv.iter().map(|a| a.as_slice()).collect();
            srv.stats.commands_processed.fetch_add(1, Ordering::Relaxed);
            run(srv, client, out, &argv, commands::unix_ms());
            account_batch(srv, client, std::time::Instant::now());
            count_errors(srv, out);
        }
    }
    Ok(())
}

/// Waits until no pause holds a command that may replicate (or not); what
/// the client sends meanwhile is buffered, and a client that goes away
/// ends the wait.
async fn wait_unpaused<S: Transport>(
    srv: &Server,
    stream: &mut S,
    inbuf: &mut BytesMut,
    may_replicate: bool,
) -> std::io::Result<()> {
    let resumed = srv.pause.wait_end(may_replicate);
    tokio::pin!(resumed);
    loop {
        if inbuf.capacity() - inbuf.len() < 4096 {
            inbuf.reserve(16 * 1024);
        }
        tokio::select! {
            _ = &mut resumed => return Ok(()),
            n = stream.read_some(inbuf) => {
                if n? == 0 {
                    return Err(std::io::ErrorKind::ConnectionAborted.into());
                }
            }
        }
    }
}

async fn wait_wakeup<S: Transport>(
    stream: &mut S,
    inbuf: &mut BytesMut,
    blocked: &mut Blocked,
    client: &mut Client,
) -> std::io::Result<Wakeup> {
    let deadline = blocked.deadline.map(tokio::time::Instant::from_std);
    loop {
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        if inbuf.capacity() - inbuf.len() < 4096 {
            inbuf.reserve(16 * 1024);
        }
        tokio::select! {
            woken = &mut blocked.rx => {
                let resp3 = blocked.waiter.resp3;
                // Cancelled by CLIENT UNBLOCK (or served): ERROR asks for
                // Redis's error, TIMEOUT for the timeout reply.
                if woken.is_err() && client.shared.unblock.load(Ordering::Relaxed) == 2 {
                    return Ok(Wakeup::Reply(b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n".to_vec()));
                }
                return Ok(woken.unwrap_or(Wakeup::Reply(blocked.waiter.op.timeout_reply(resp3))));
            }
            frame = next_push(&mut client.push_rx) => {
                // Invalidations reach a blocked client too, as in Redis.
                if let Some(frame) = frame {
                    let mut out = Out::new(false);
                    take_pushes(client, frame, &mut out);
                    stream.write_all_flush(&out.buf).await?;
                    client.shared.pushes.mark_taken(client.push_taken);
                }
            }
            _ = timer => {
                if blocked.waiter.cancel() {
                    return Ok(Wakeup::Reply(blocked.waiter.op.timeout_reply(blocked.waiter.resp3)));
                }
                // A writer served us just now: its reply is in the channel.
                if let Ok(w) = (&mut blocked.rx).await {
                    return Ok(w);
                }
            }
            n = stream.read_some(inbuf) => {
                let n = n?;
                if n == 0 {
                    // Gone: cancel, so no writer pops an element for a dead client.
                    blocked.waiter.cancel();
                    return Err(std::io::ErrorKind::ConnectionAborted.into());
                }
            }
        }
    }
}

/// Moves the error replies the batch wrote into INFO errorstats.
#[inline]
fn count_errors(srv: &Server, out: &mut Out) {
    if !out.error_prefixes.is_empty() {
        srv.stats
            .errors
            .record(out.error_prefixes.iter().map(|p| p.as_str()));
        out.error_prefixes.clear();
    }
}

/// Adds the batch's time to commandstats, split evenly among its commands.
fn account_batch(srv: &Server, client: &mut Client, started: std::time::Instant) {
    flush_latency_samples(srv, client);
    if client.batch.is_empty() {
        return;
    }
    let usec = started.elapsed().as_micros() as u64;
    let n = client.batch.len() as u64;
    // One atomic update per run of equal commands, not per command: counters
    // shared by all worker threads are the costly part (pipelines are mostly
    // runs of one command).
    let mut run: Option<(u32, u64, u64)> = None;
    let flush = |run: Option<(u32, u64, u64)>| {
        if let Some((id, calls, usec)) = run {
            srv.commands.with_id(id, |cmd| {
                cmd.stats.calls.fetch_add(calls, Ordering::Relaxed);
                cmd.stats.usec.fetch_add(usec, Ordering::Relaxed);
            });
        }
    };
    for (i, id) in client.batch.drain(..).enumerate() {
        // Spread the remainder so the total is exact.
        let share = usec / n + u64::from((i as u64) < usec % n);
        match &mut run {
            Some((rid, calls, total)) if *rid == id => {
                *calls += 1;
                *total += share;
            }
            _ => {
                flush(run.take());
                run = Some((id, 1, share));
            }
        }
    }
    flush(run);
}

/// Moves the batch's latency samples into the commands' histograms, one
/// update per run of samples of the same command in the same bucket (the
/// histograms are shared by every worker thread).
fn flush_latency_samples(srv: &Server, client: &mut Client) {
    let mut run: Option<(u32, usize, u64, u64)> = None;
    let flush = |run: Option<(u32, usize, u64, u64)>| {
        if let Some((id, _, ns, n)) = run {
            srv.commands.with_id(id, |cmd| {
                commands::latency::LatencyMonitor::track(cmd, ns, n)
            });
        }
    };
    for (id, ns) in client.latency_samples.drain(..) {
        let bucket = crate::util::histogram::Histogram::bucket(ns);
        match &mut run {
            Some((rid, rb, _, n)) if *rid == id && *rb == bucket => *n += 1,
            _ => {
                flush(run.take());
                run = Some((id, bucket, ns, 1));
            }
        }
    }
    flush(run);
}

/// Runs one command that started at `started_us` (unix microseconds), logs
/// it if it was slow, and returns the clock reading that ended it.
#[inline]
fn run_timed(
    srv: &Server,
    client: &mut Client,
    out: &mut Out,
    argv: &[&[u8]],
    started_us: i64,
) -> i64 {
    let ran_before = client.batch.len();
    run(srv, client, out, argv, started_us.div_euclid(1000));
    let ended_us = commands::unix_us();
    let took = ended_us.saturating_sub(started_us).max(0) as u64;
    // A command that ran (and is not parked) gets a latency sample.
    if client.batch.len() > ran_before && client.blocked.is_none() && srv.latency.tracking() {
        let id = client.batch[ran_before];
        client.latency_samples.push((id, took * 1000));
    }
    // A blocked command is not done yet (Redis logs it once unblocked).
    if srv.slowlog.is_slow(took) && client.blocked.is_none() {
        let queued = client.multi.is_some();
        commands::slowlog::SlowLog::record(srv, &client.shared, argv, started_us, took, queued);
    }
    if srv.latency.is_slow(took) && client.blocked.is_none() {
        let queued = client.multi.is_some();
        commands::latency::LatencyMonitor::record_command(srv, argv, ended_us, took, queued);
    }
    ended_us
}

#[inline]
fn run(srv: &Server, client: &mut Client, out: &mut Out, argv: &[&[u8]], now_ms: i64) {
    commands::execute(srv, client, out, argv, now_ms);
}
