//! `ember-server [config-file] [--directive value ...]`: loads the configuration
//! and serves until SHUTDOWN or SIGINT/SIGTERM.

use ember::config::{CliAction, Config};
use ember::server::{self, Server};

#[global_allocator]
static GLOBAL: ember::alloc::CountingAlloc = ember::alloc::CountingAlloc;

fn main() {
    ember::alloc::disable_transparent_huge_pages();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match Config::cli_action(&args) {
        Some(CliAction::Version) => {
            println!(
                "Ember server v={} (Redis {} compatible)",
                env!("CARGO_PKG_VERSION"),
                server::REDIS_COMPAT_VERSION
            );
            return;
        }
        Some(CliAction::Help) => {
            println!("{}", ember::config::USAGE);
            return;
        }
        None => {}
    }
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    // Like Redis, run from `dir` so relative file names resolve against it.
    if let Err(e) = std::env::set_current_dir(&config.dir) {
        eprintln!("Can't chdir to '{}': {e}", config.dir);
        std::process::exit(1);
    }
    if let Err(e) = ember::log::configure(&config.loglevel, &config.logfile) {
        eprintln!("Can't open the log file: {e}");
        std::process::exit(1);
    }
    if config.get_one("syslog-enabled").as_deref() == Some("yes") {
        ember::log::configure_syslog(
            &config.get_one("syslog-ident").unwrap_or_default(),
            &config.get_one("syslog-facility").unwrap_or_default(),
        );
    }
    // Before the runtime exists: daemonizing forks, which copies one thread.
    if let Err(e) = ember::process::start(&config) {
        eprintln!("Can't daemonize: {e}");
        std::process::exit(1);
    }
    let config_file = (!config.config_file.is_empty()).then(|| config.config_file.clone());
    let threads = config.threads.max(1);
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            // A worker running a long wasm guest must not keep the I/O
            // driver from the other workers (see .cargo/config.toml).
            .enable_eager_driver_handoff()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Can't start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let srv = match Server::try_new(config, config_file) {
        Ok(srv) => srv,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    ember::log::notice(&format!(
        "Ember {} starting, {} thread(s), pid {}",
        env!("CARGO_PKG_VERSION"),
        threads,
        std::process::id()
    ));
    let served = runtime.block_on(server::serve(srv));
    ember::process::stop();
    if let Err(e) = served {
        ember::log::warning(&format!("{e:#}"));
        std::process::exit(1);
    }
    // Connections may still be running: exit without waiting for them, as Redis does.
    std::process::exit(0);
}
