//! The server log, in Redis's line format (`pid:M dd Mon yyyy hh:mm:ss.mmm * text`),
//! to stdout or the `logfile`, filtered by `loglevel`, and also to syslog(3)
//! when `syslog-enabled` is set.

use parking_lot::Mutex;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(2);
static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);
/// Set once `configure_syslog` opened the system log.
static SYSLOG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Opens syslog with `syslog-ident` and `syslog-facility` (a name from
/// redis.conf: user, local0..local7), as Redis does with openlog().
pub fn configure_syslog(ident: &str, facility: &str) {
    let facility = match facility {
        "user" => libc::LOG_USER,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => libc::LOG_LOCAL0,
    };
    let ident = std::ffi::CString::new(ident.replace('\0', "")).unwrap_or_default();
    // openlog keeps the pointer: the identity must live forever.
    let ident: &'static std::ffi::CStr = Box::leak(ident.into_boxed_c_str());
    // SAFETY: `ident` is a NUL-terminated string leaked for the life of the
    // process, as openlog(3) requires; the other arguments are plain ints.
    unsafe {
        libc::openlog(
            ident.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY | libc::LOG_NOWAIT,
            facility,
        )
    };
    SYSLOG.store(true, Ordering::Relaxed);
}

/// Levels in Redis's order; `nothing` silences the log.
pub fn level_from_name(name: &str) -> Option<u8> {
    ["debug", "verbose", "notice", "warning", "nothing"]
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name))
        .map(|p| p as u8)
}

/// Applies `loglevel` and `logfile` ("" = stdout).
pub fn configure(level: &str, file: &str) -> std::io::Result<()> {
    LEVEL.store(level_from_name(level).unwrap_or(2), Ordering::Relaxed);
    let f = if file.is_empty() {
        None
    } else {
        Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)?,
        )
    };
    *FILE.lock() = f;
    Ok(())
}

/// The role letter of each line: `M` for a primary, `S` for a replica.
static ROLE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(b'M');

/// Switches the role letter (REPLICAOF, promotion).
pub fn set_replica(replica: bool) {
    ROLE.store(if replica { b'S' } else { b'M' }, Ordering::Relaxed);
}

fn write(level: u8, mark: char, msg: &str) {
    if level < LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let line = format!(
        "{}:{} {} {} {}\n",
        std::process::id(),
        ROLE.load(Ordering::Relaxed) as char,
        timestamp(),
        mark,
        msg
    );
    if SYSLOG.load(Ordering::Relaxed) {
        // Redis's syslogLevelMap: debug, info, notice, warning.
        let priority = [
            libc::LOG_DEBUG,
            libc::LOG_INFO,
            libc::LOG_NOTICE,
            libc::LOG_WARNING,
        ][usize::from(level.min(3))];
        if let Ok(text) = std::ffi::CString::new(msg.replace('\0', "")) {
            // SAFETY: a constant "%s" format with one NUL-terminated string
            // argument that outlives the call.
            unsafe { libc::syslog(priority, c"%s".as_ptr(), text.as_ptr()) };
        }
    }
    let mut file = FILE.lock();
    match file.as_mut() {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stdout().write_all(line.as_bytes());
        }
    }
}

fn timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let ms = crate::commands::unix_ms();
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

pub fn debug(msg: &str) {
    write(0, '.', msg);
}
pub fn verbose(msg: &str) {
    write(1, '-', msg);
}
pub fn notice(msg: &str) {
    write(2, '*', msg);
}
pub fn warning(msg: &str) {
    write(3, '#', msg);
}
