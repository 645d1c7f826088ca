//! The modules that ship inside the server binary and load at start-up (unless
//! the config turns them off): Bloom filters (`BF.*`), rate limiters
//! (`CL.THROTTLE` ...) and GA inventory (`INV.*`).
//!
//! They are ordinary guests from the guest workspace (`modules/`), compiled to
//! wasm32 by host/build.rs and embedded with `include_bytes!`, so a server
//! binary is self-contained: no module files to install or keep in step with
//! the server's ABI. Each entry is (module name as it registers itself, wasm).
pub const BUNDLED: &[(&str, &[u8])] = &[
    (
        "bf",
        include_bytes!(concat!(env!("EMBER_GUESTS_DIR"), "/ember_bloom.wasm")),
    ),
    (
        "ratelimit",
        include_bytes!(concat!(env!("EMBER_GUESTS_DIR"), "/ember_ratelimit.wasm")),
    ),
    (
        "inventory",
        include_bytes!(concat!(env!("EMBER_GUESTS_DIR"), "/ember_inventory.wasm")),
    ),
];
