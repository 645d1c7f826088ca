//! Build steps besides compiling the host's Rust:
//!
//! 1. The long-double helper (src/util/float.c): Redis does INCRBYFLOAT in C
//!    `long double`, and matching its digits needs the same arithmetic.
//! 2. The guest workspace (modules/Cargo.toml: the SDK, the bundled modules,
//!    the wasm examples), built for wasm32-unknown-unknown into
//!    target/guests, so src/wasm/bundled.rs can embed the modules and tests can
//!    load the examples. `EMBER_GUESTS_DIR` tells the host crate where the
//!    .wasm files are.
use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    println!("cargo:rerun-if-changed=src/util/float.c");
    cc::Build::new()
        .file("src/util/float.c")
        .opt_level(2)
        .compile("emberfloat");

    build_guests();
}

fn build_guests() {
    let host_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = host_dir
        .parent()
        .expect("host/ lives in the repository root")
        .to_path_buf();
    let target_dir = root.join("target").join("guests");
    let out_dir = target_dir.join(WASM_TARGET).join("release");

    watch_guest_sources(&root);
    println!("cargo:rustc-env=EMBER_GUESTS_DIR={}", out_dir.display());

    ensure_wasm_target(&root);

    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "--workspace", "--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(root.join("modules").join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    scrub_outer_build_env(&mut cmd);

    let output = match cmd.output() {
        Ok(output) => output,
        Err(e) => fail(&format!(
            "could not run cargo to build the wasm guests: {e}"
        )),
    };
    if !output.status.success() {
        fail(&format!(
            "building the wasm guests (modules/Cargo.toml) failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
}

/// Fails the host build with `msg` (Cargo prints the script's stderr) and
/// without a panic's backtrace, which would only bury the guest's errors.
fn fail(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(1)
}

/// Settings of the outer build that must not reach the guest build: flags and
/// wrappers meant for the host (coverage, sanitizers, clippy-driver would fail
/// or misbehave on wasm32), and target/profile/target-dir overrides that would
/// send the guests elsewhere or build them differently. The jobserver
/// (CARGO_MAKEFLAGS) stays, so the nested build shares the outer `-j`.
fn scrub_outer_build_env(cmd: &mut Command) {
    const EXACT: &[&str] = &[
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTDOCFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "CARGO_BUILD_RUSTDOCFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_RUSTC_WRAPPER",
        "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
    ];
    // CARGO_TARGET_DIR and the per-target CARGO_TARGET_<TRIPLE>_* settings;
    // CARGO_PROFILE_<NAME>_* overrides.
    const PREFIXES: &[&str] = &["CARGO_TARGET_", "CARGO_PROFILE_"];
    for (key, _) in env::vars_os() {
        let Some(name) = key.to_str() else { continue };
        if EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p)) {
            cmd.env_remove(&key);
        }
    }
}

/// Machines run with RUSTUP_AUTO_INSTALL=0, so a toolchain that lacks the
/// wasm32 standard library does not fetch it by itself: add it once.
fn ensure_wasm_target(root: &Path) {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(sysroot) = &sysroot {
        if sysroot
            .join("lib")
            .join("rustlib")
            .join(WASM_TARGET)
            .is_dir()
        {
            return;
        }
    }
    let mut cmd = Command::new("rustup");
    cmd.current_dir(root).args(["target", "add", WASM_TARGET]);
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        cmd.arg("--toolchain").arg(toolchain);
    }
    match cmd.output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => fail(&format!(
            "the {WASM_TARGET} target is missing and `rustup target add {WASM_TARGET}` failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => fail(&format!(
            "the {WASM_TARGET} target is missing (sysroot {sysroot:?}) and rustup could not be run ({e}); \
             install it with `rustup target add {WASM_TARGET}`"
        )),
    }
}

/// Rebuilds the guests when their sources change. Whole directories are
/// watched (Cargo scans them recursively), except `target` folders: a guest
/// build or a `cargo test --manifest-path modules/Cargo.toml` writes there and
/// must not make every host build run this script again. examples/wasm has no
/// target folder (its crates build in the workspace's), so it is watched whole
/// and a new example is noticed; a new module is noticed through its line in
/// modules/Cargo.toml.
fn watch_guest_sources(root: &Path) {
    println!(
        "cargo:rerun-if-changed={}",
        root.join("examples/wasm").display()
    );
    for dir in ["modules", "guest-sdk"] {
        let dir = root.join(dir);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name() != "target" {
                println!("cargo:rerun-if-changed={}", entry.path().display());
            }
        }
    }
}
