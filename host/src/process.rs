//! The server process as the operating system sees it, as redis-server does
//! it: `daemonize` (fork into the background), `pidfile`, and `supervised`
//! (tell systemd or upstart when the server is ready to accept connections).
//! `main` calls [`start`] before any thread exists; the server calls
//! [`ready`] once its listeners are bound and [`stop`] removes the pid file.

use std::io;
use std::sync::Mutex;

use crate::config::Config;

/// Redis's CONFIG_DEFAULT_PID_FILE, used when daemonized without `pidfile`.
pub const DEFAULT_PID_FILE: &str = "/var/run/redis.pid";

/// How the service manager wants to hear that we are ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Supervisor {
    None,
    Systemd,
    Upstart,
}

/// What [`start`] set up, for [`ready`] and [`stop`].
static STATE: Mutex<(Supervisor, Option<String>)> = Mutex::new((Supervisor::None, None));

/// `supervised` resolved like Redis's redisIsSupervised: `auto` picks upstart
/// when UPSTART_JOB is set, systemd when NOTIFY_SOCKET is, else none; an
/// explicit mode whose environment variable is missing is none (Redis logs
/// that it cannot supervise and carries on).
pub fn supervisor(cfg: &Config) -> Supervisor {
    let mode = cfg.get_one("supervised").unwrap_or_default();
    let upstart = std::env::var_os("UPSTART_JOB").is_some();
    let systemd = std::env::var_os("NOTIFY_SOCKET").is_some();
    match mode.as_str() {
        "auto" if upstart => Supervisor::Upstart,
        "auto" if systemd => Supervisor::Systemd,
        "upstart" if upstart => Supervisor::Upstart,
        "systemd" if systemd => Supervisor::Systemd,
        "upstart" | "systemd" => {
            crate::log::warning(&format!(
                "{mode} supervision requested or auto-detected, but the environment \
                 variable for it is missing: not supervised"
            ));
            Supervisor::None
        }
        _ => Supervisor::None,
    }
}

/// Daemonizes (unless supervised, as Redis does) and writes the pid file.
/// Must run before any other thread exists: `fork` copies only the caller.
pub fn start(cfg: &Config) -> io::Result<()> {
    let supervisor = supervisor(cfg);
    let background = cfg.daemonize && supervisor == Supervisor::None;
    if background {
        daemonize()?;
    }
    let pidfile = if !cfg.pidfile.is_empty() {
        Some(cfg.pidfile.clone())
    } else if background {
        Some(DEFAULT_PID_FILE.to_string())
    } else {
        None
    };
    if let Some(path) = &pidfile {
        // Like Redis, a pid file we cannot write is a warning, not fatal.
        if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
            crate::log::warning(&format!("Failed to write PID file: {e}"));
        }
    }
    if let Ok(mut state) = STATE.lock() {
        *state = (supervisor, pidfile);
    }
    Ok(())
}

/// Forks; the parent exits 0, the child leads a new session with its
/// standard streams on /dev/null (Redis's daemonize()).
fn daemonize() -> io::Result<()> {
    // SAFETY: called from `start`, which main runs before it creates the
    // runtime or any thread, so the child is a complete copy of a
    // single-threaded process; no locks can be held by a vanished thread.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid > 0 {
        std::process::exit(0);
    }
    // SAFETY: setsid takes no pointers; failure (already a group leader)
    // is harmless and ignored, as in Redis.
    unsafe { libc::setsid() };
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    use std::os::fd::AsRawFd;
    for fd in 0..=2 {
        // SAFETY: dup2 on two valid descriptors we own (`null` lives until
        // the end of this function; 0-2 are the process's standard streams).
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Tells the supervisor that we accept connections (systemd: READY=1 on
/// NOTIFY_SOCKET; upstart: SIGSTOP, as upstart's `expect stop` wants).
pub fn ready() {
    let supervisor = STATE.lock().map(|s| s.0).unwrap_or(Supervisor::None);
    match supervisor {
        Supervisor::None => {}
        Supervisor::Systemd => {
            if let Err(e) = notify_systemd("STATUS=Ready to accept connections\nREADY=1\n") {
                crate::log::warning(&format!("Can't notify systemd: {e}"));
            } else {
                crate::log::notice("Supervised by systemd. Please make sure you set appropriate values for TimeoutStartSec and TimeoutStopSec in your service unit.");
            }
        }
        Supervisor::Upstart => {
            crate::log::notice("Supervised by upstart, will stop to signal readiness.");
            // SAFETY: raise takes no pointers; SIGSTOP only suspends us
            // until upstart continues the process.
            unsafe { libc::raise(libc::SIGSTOP) };
        }
    }
}

fn notify_systemd(msg: &str) -> io::Result<()> {
    use std::os::unix::net::UnixDatagram;
    let path = std::env::var("NOTIFY_SOCKET")
        .map_err(|_| io::Error::new(io::ErrorKind::NotFound, "NOTIFY_SOCKET not set"))?;
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        sock.send_to_addr(msg.as_bytes(), &addr)?;
    } else {
        sock.send_to(msg.as_bytes(), &path)?;
    }
    Ok(())
}

/// INFO's `process_supervised`: `no`, `systemd` or `upstart`.
pub fn supervised_name() -> &'static str {
    match STATE.lock().map(|s| s.0).unwrap_or(Supervisor::None) {
        Supervisor::None => "no",
        Supervisor::Systemd => "systemd",
        Supervisor::Upstart => "upstart",
    }
}

/// Removes the pid file we wrote (at shutdown, as Redis does).
pub fn stop() {
    let pidfile = STATE.lock().ok().and_then(|s| s.1.clone());
    if let Some(path) = pidfile {
        let _ = std::fs::remove_file(path);
    }
}
