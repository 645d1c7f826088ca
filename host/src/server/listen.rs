//! The listening sockets and their accept loops: TCP on `port`, TLS on
//! `tls-port` (each on every `bind` address; `-` marks an optional one, `*`
//! and `::*` are all IPv4 / IPv6 interfaces), and the `unixsocket`. Opened
//! with `tcp-backlog`, re-applied by CONFIG SET of `bind`, `port` and the
//! TLS settings as Redis 7 does: sockets already open for a wanted address
//! stay open, the new ones are bound first, and if any bind fails nothing
//! changes. Each accepted client passes maxclients and protected mode
//! (protected.rs) before its connection task starts.

use super::client::FLAG_UNIX_SOCKET;
use super::transport::Transport;
use super::{connection, protected, Server};
use parking_lot::Mutex;
use socket2::{Domain, SockAddr, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio_rustls::TlsAcceptor;

/// One listening socket, as the config names it.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Key {
    Tcp { addr: String, port: u16, tls: bool },
    Unix { path: String, perm: u32 },
}

/// A bound socket not yet serving.
enum Bound {
    Tcp(std::net::TcpListener, bool),
    Unix(std::os::unix::net::UnixListener),
}

struct Active {
    key: Key,
    task: tokio::task::AbortHandle,
    /// A second handle on the listening socket, to stop it at once when
    /// the listener is dropped from the config (aborting the accept task
    /// closes its copy only when the runtime next gets to it; Redis closes
    /// synchronously, so a connect right after CONFIG SET is refused).
    socket: Option<Socket>,
}

/// The open listeners and the TLS acceptor new TLS clients use.
#[derive(Default)]
pub struct Listeners {
    active: Mutex<Vec<Active>>,
    tls: Mutex<Option<TlsAcceptor>>,
    runtime: Mutex<Option<tokio::runtime::Handle>>,
}

/// How long a TLS client may take to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Listeners {
    /// Opens what the config asks for and closes what it no longer does.
    /// On error nothing changed. The error is Redis's log line for it.
    pub fn apply(&self, srv: &Arc<Server>) -> Result<(), String> {
        let runtime = {
            let mut rt = self.runtime.lock();
            if rt.is_none() {
                *rt = tokio::runtime::Handle::try_current().ok();
            }
            rt.clone().ok_or("no runtime to serve the listeners on")?
        };
        let (wanted, backlog, tls_port) = {
            let cfg = srv.config.read();
            let tls_port = cfg
                .get_one("tls-port")
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(0);
            let mut wanted = Vec::new();
            for (port, tls) in [(cfg.port, false), (tls_port, true)] {
                if port == 0 {
                    continue;
                }
                for addr in &cfg.bind {
                    wanted.push(Key::Tcp {
                        addr: addr.clone(),
                        port,
                        tls,
                    });
                }
            }
            if !cfg.unixsocket.is_empty() {
                let perm = cfg
                    .get_one("unixsocketperm")
                    .and_then(|p| u32::from_str_radix(&p, 8).ok())
                    .unwrap_or(0);
                wanted.push(Key::Unix {
                    path: cfg.unixsocket.clone(),
                    perm,
                });
            }
            (wanted, cfg.tcp_backlog, tls_port)
        };
        // The TLS settings are checked before anything is bound.
        let acceptor = if tls_port != 0 {
            Some(super::tls::acceptor(&srv.config.read())?)
        } else {
            None
        };
        let mut active = self.active.lock();
        let mut fresh: Vec<(Key, Bound)> = Vec::new();
        for key in &wanted {
            if active.iter().any(|a| &a.key == key) {
                continue;
            }
            if let Some(bound) = bind(key, backlog)? {
                fresh.push((key.clone(), bound));
            }
        }
        *self.tls.lock() = acceptor;
        active.retain(|a| {
            let keep = wanted.contains(&a.key);
            if !keep {
                a.task.abort();
                if let Some(s) = &a.socket {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
            }
            keep
        });
        for (key, bound) in fresh {
            let socket = match &bound {
                Bound::Tcp(l, _) => l.try_clone().ok().map(Socket::from),
                Bound::Unix(l) => l.try_clone().ok().map(Socket::from),
            };
            let task = match bound {
                Bound::Tcp(l, tls) => {
                    if let Ok(addr) = l.local_addr() {
                        if !tls {
                            srv.port.store(addr.port() as u64, Ordering::Relaxed);
                        }
                        let kind = if tls { "tls" } else { "tcp" };
                        crate::log::notice(&format!(
                            "Ready to accept connections {kind} on {addr}"
                        ));
                    }
                    runtime.spawn(accept_tcp(srv.clone(), l, tls))
                }
                Bound::Unix(l) => {
                    crate::log::notice("Ready to accept connections unix");
                    runtime.spawn(accept_unix(srv.clone(), l))
                }
            };
            active.push(Active {
                key,
                task: task.abort_handle(),
                socket,
            });
        }
        Ok(())
    }

    /// Whether anything listens at all (Redis exits when nothing does).
    pub fn is_empty(&self) -> bool {
        self.active.lock().is_empty()
    }

    fn tls_acceptor(&self) -> Option<TlsAcceptor> {
        self.tls.lock().clone()
    }
}

/// For a CONFIG SET naming `name`: whether the listeners must be applied
/// again, and Redis's reason text when that fails.
pub fn reapplied_by(name: &[u8]) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    match &name[..] {
        b"bind" => Some("Failed to bind to specified addresses."),
        b"port" | b"tls-port" => Some("Unable to listen on this port"),
        n if n.starts_with(b"tls-") => {
            Some("Unable to update TLS configuration. Check server logs.")
        }
        _ => None,
    }
}

/// Binds one listener; `Ok(None)` for an address Redis skips (an optional
/// address that is not available, or a protocol family this host lacks).
fn bind(key: &Key, backlog: u32) -> Result<Option<Bound>, String> {
    let backlog = backlog.min(i32::MAX as u32) as i32;
    match key {
        Key::Tcp { addr, port, tls } => {
            let optional = addr.starts_with('-');
            let name = addr.trim_start_matches('-');
            match bind_tcp(name, *port, backlog) {
                Ok(l) => Ok(Some(Bound::Tcp(l, *tls))),
                Err(e) => {
                    crate::log::warning(&format!(
                        "Warning: Could not create server TCP listening socket {name}:{port}: {e}"
                    ));
                    let skip = match e.raw_os_error() {
                        Some(libc::EADDRNOTAVAIL) => optional,
                        Some(
                            libc::ENOPROTOOPT
                            | libc::EPROTONOSUPPORT
                            | libc::ESOCKTNOSUPPORT
                            | libc::EPFNOSUPPORT
                            | libc::EAFNOSUPPORT,
                        ) => true,
                        _ => false,
                    };
                    if skip {
                        Ok(None)
                    } else {
                        Err(format!(
                            "Could not create server TCP listening socket {name}:{port}: {e}"
                        ))
                    }
                }
            }
        }
        Key::Unix { path, perm } => bind_unix(path, *perm, backlog)
            .map(|l| Some(Bound::Unix(l)))
            .map_err(|e| format!("Failed opening Unix socket: {e}")),
    }
}

/// Redis's anetTcpServer / anetTcp6Server: an address with a `:` is IPv6
/// (then IPV6_V6ONLY, so `*` and `::*` can both be bound), SO_REUSEADDR,
/// and the listen backlog from `tcp-backlog`.
fn bind_tcp(addr: &str, port: u16, backlog: i32) -> std::io::Result<std::net::TcpListener> {
    let v6 = addr.contains(':');
    let ip = match addr {
        "*" => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        "::*" => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        a => a.parse::<IpAddr>().ok(),
    };
    let sa = match ip {
        Some(ip) => SocketAddr::new(ip, port),
        // A host name, resolved like getaddrinfo(AI_PASSIVE) in the family
        // the `:` rule picked.
        None => (addr, port)
            .to_socket_addrs()?
            .find(|a| a.is_ipv6() == v6)
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL))?,
    };
    let socket = Socket::new(Domain::for_address(sa), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if sa.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&sa.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Redis's anetUnixServer: the old socket file is removed first, and
/// `unixsocketperm` (when not 0) is applied to the new one.
fn bind_unix(
    path: &str,
    perm: u32,
    backlog: i32,
) -> std::io::Result<std::os::unix::net::UnixListener> {
    let _ = std::fs::remove_file(path);
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    if perm != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm))?;
    }
    Ok(socket.into())
}

/// Counts the connection and applies maxclients; false when it was refused
/// (the refusal is written by the caller's `reply`).
fn admit(srv: &Server) -> bool {
    srv.stats
        .connections_received
        .fetch_add(1, Ordering::Relaxed);
    let maxclients = srv.config.read().maxclients;
    if srv.clients.count() as u64 >= maxclients {
        srv.stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        return false;
    }
    true
}

/// Writes a refusal and closes, on a task of its own.
fn refuse<S: Transport>(mut stream: S, text: &'static str) {
    tokio::spawn(async move {
        let _ = stream.write_all_flush(text.as_bytes()).await;
    });
}

const MAXCLIENTS: &str = "-ERR max number of clients reached\r\n";

/// Starts the connection task of an admitted client.
fn start<S: Transport>(srv: &Arc<Server>, stream: S, shared: Arc<super::client::ClientShared>) {
    let task = tokio::spawn(connection::handle(srv.clone(), stream, shared.clone()));
    *shared.abort.lock() = Some(task.abort_handle());
    // A CLIENT KILL that landed before the handle was stored only set the flag.
    if shared.killed.load(Ordering::Acquire) {
        task.abort();
    }
}

async fn accept_tcp(srv: Arc<Server>, listener: std::net::TcpListener, tls: bool) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            crate::log::warning(&format!("Listening socket unusable: {e}"));
            return;
        }
    };
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                crate::log::warning(&format!("Accepting client connection: {e}"));
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let keepalive = srv.config.read().tcp_keepalive;
        if keepalive > 0 {
            let ka =
                socket2::TcpKeepalive::new().with_time(std::time::Duration::from_secs(keepalive));
            let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
        }
        if tls {
            match srv.listeners.tls_acceptor() {
                Some(acceptor) => {
                    tokio::spawn(accept_tls(srv.clone(), acceptor, stream, addr));
                }
                None => drop(stream),
            }
            continue;
        }
        if !admit(&srv) {
            refuse(stream, MAXCLIENTS);
            continue;
        }
        if protected::refuses(&srv, &addr, false) {
            srv.stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            refuse(stream, protected::DENIED);
            continue;
        }
        let laddr = stream.local_addr().unwrap_or(addr);
        let shared = srv.clients.register(addr, laddr, stream.as_raw_fd());
        start(&srv, stream, shared);
    }
}

/// The TLS handshake, then the same checks as a plain client (Redis runs
/// them once the connection is established, so the refusal is encrypted).
/// A peer that fails the handshake (a plaintext client, a certificate the
/// CA does not vouch for) is logged and closed.
async fn accept_tls(srv: Arc<Server>, acceptor: TlsAcceptor, stream: TcpStream, addr: SocketAddr) {
    let fd = stream.as_raw_fd();
    let laddr = stream.local_addr().unwrap_or(addr);
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            crate::log::verbose(&format!(
                "Error accepting a client connection: {e} (addr={addr} laddr={laddr})"
            ));
            return;
        }
        Err(_) => {
            crate::log::verbose(&format!(
                "Error accepting a client connection: TLS handshake timed out (addr={addr})"
            ));
            return;
        }
    };
    if !admit(&srv) {
        refuse(stream, MAXCLIENTS);
        return;
    }
    if protected::refuses(&srv, &addr, false) {
        srv.stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        refuse(stream, protected::DENIED);
        return;
    }
    let shared = srv.clients.register(addr, laddr, fd);
    start(&srv, stream, shared);
}

async fn accept_unix(srv: Arc<Server>, listener: std::os::unix::net::UnixListener) {
    let listener = match UnixListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            crate::log::warning(&format!("Unix socket unusable: {e}"));
            return;
        }
    };
    let nowhere = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                crate::log::warning(&format!("Accepting client connection: {e}"));
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if !admit(&srv) {
            refuse(stream, MAXCLIENTS);
            continue;
        }
        // Unix socket clients are local: protected mode never refuses them.
        let shared = srv.clients.register(nowhere, nowhere, stream.as_raw_fd());
        shared.set_flag(FLAG_UNIX_SOCKET, true);
        start(&srv, stream, shared);
    }
}
