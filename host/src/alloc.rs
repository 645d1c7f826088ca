//! The global allocator: mimalloc, wrapped to count live bytes the way Redis's
//! zmalloc does (usable sizes, so the count is what the allocator really
//! hands out), so INFO used_memory and maxmemory act on real figures. Also the
//! allocator's own view (committed and resident memory, its statistics
//! report, giving freed pages back) for INFO memory and MEMORY.
//!
//! Each thread accumulates its delta locally and publishes it to the shared
//! counter in 8 KiB steps, so the count costs no cross-core traffic per
//! allocation; the total is exact to within 8 KiB per thread, and exact for
//! the calling thread's own allocations ([`used_memory`] adds them in), which
//! is what eviction needs to see what a deletion freed.

use libmimalloc_sys as mi;
use mimalloc::MiMalloc;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

pub struct CountingAlloc;

static USED: AtomicIsize = AtomicIsize::new(0);
/// Highest published value of `USED` (INFO used_memory_peak).
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// `USED` when the server finished starting (INFO used_memory_startup).
static STARTUP: AtomicUsize = AtomicUsize::new(0);
const FLUSH_AT: isize = 8 * 1024;

thread_local! {
    // Const-initialised and without a destructor: safe to use inside the allocator.
    static LOCAL: Cell<isize> = const { Cell::new(0) };
}

#[inline]
fn account(delta: isize) {
    LOCAL.with(|l| {
        let v = l.get() + delta;
        if v.abs() >= FLUSH_AT {
            let now = USED.fetch_add(v, Ordering::Relaxed) + v;
            if v > 0 {
                PEAK.fetch_max(now.max(0) as usize, Ordering::Relaxed);
            }
            l.set(0);
        } else {
            l.set(v);
        }
    });
}

/// Bytes currently allocated through the global allocator (usable sizes),
/// counting this thread's unpublished delta exactly.
pub fn used_memory() -> usize {
    let local = LOCAL.try_with(|l| l.get()).unwrap_or(0);
    (USED.load(Ordering::Relaxed) + local).max(0) as usize
}

/// The highest `used_memory` seen (published steps; INFO used_memory_peak).
pub fn peak_memory() -> usize {
    PEAK.load(Ordering::Relaxed).max(used_memory())
}

/// Remembers the current figure as the start-up baseline.
pub fn mark_startup() {
    STARTUP.store(used_memory(), Ordering::Relaxed);
}

/// `used_memory` once the server had started (before any data).
pub fn startup_memory() -> usize {
    STARTUP.load(Ordering::Relaxed)
}

/// What the allocator itself reports about the process.
#[derive(Default, Clone, Copy, Debug)]
pub struct AllocatorInfo {
    /// Memory mimalloc has committed (its "active" pages, Redis's allocator_active).
    pub committed: usize,
    /// Peak committed memory.
    pub peak_committed: usize,
}

pub fn allocator_info() -> AllocatorInfo {
    let mut v = [0usize; 8];
    let [a, b, c, d, e, f, g, h] = &mut v;
    // SAFETY: mi_process_info writes one usize through each pointer; all eight
    // point to distinct, live, writable locals.
    unsafe { mi::mi_process_info(a, b, c, d, e, f, g, h) };
    AllocatorInfo {
        committed: v[5],
        peak_committed: v[6],
    }
}

/// mimalloc's statistics report (MEMORY MALLOC-STATS).
pub fn malloc_stats() -> String {
    unsafe extern "C" fn collect(msg: *const std::ffi::c_char, arg: *mut c_void) {
        if msg.is_null() || arg.is_null() {
            return;
        }
        // SAFETY: `arg` is the `&mut String` passed below, alive for the whole
        // mi_stats_print_out call that invokes this callback; `msg` is a
        // NUL-terminated string mimalloc owns for the duration of the call.
        let (out, text) = unsafe { (&mut *(arg as *mut String), std::ffi::CStr::from_ptr(msg)) };
        out.push_str(&text.to_string_lossy());
    }
    let mut out = String::new();
    // SAFETY: `collect` matches mi_output_fun and only uses `arg` as the
    // String it is; the call is synchronous, so `out` outlives it.
    unsafe { mi::mi_stats_print_out(Some(collect), &mut out as *mut String as *mut c_void) };
    out
}

/// Returns this thread's freed memory to the system after a big buffer was
/// dropped (a client's huge query or reply), instead of leaving it cached.
pub fn release_freed() {
    // SAFETY: mi_collect takes no pointers; forcing a collection is always valid.
    unsafe { mi::mi_collect(true) };
}

/// Gives freed pages back to the operating system (MEMORY PURGE).
pub fn purge() {
    // SAFETY: mi_collect takes no pointers; forcing a collection is always valid.
    unsafe { mi::mi_collect(true) };
}

#[inline]
fn usable(p: *mut u8) -> isize {
    // SAFETY: only called with non-null pointers this allocator returned and
    // has not freed yet.
    unsafe { mi::mi_usable_size(p as *const c_void) as isize }
}

// SAFETY: every method forwards to MiMalloc, a correct GlobalAlloc, with the
// caller's arguments unchanged; the bookkeeping asks mimalloc for the usable
// size of live blocks and touches only a thread-local Cell and atomics, none
// of which allocates or can unwind.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds alloc's contract.
        let p = unsafe { MiMalloc.alloc(layout) };
        if !p.is_null() {
            account(usable(p));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(-usable(ptr));
        // SAFETY: forwarded as is; `ptr` came from this allocator with `layout`.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            account(usable(p));
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = usable(ptr);
        // SAFETY: forwarded as is; the caller upholds realloc's contract.
        let p = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            account(usable(p) - old);
        }
        p
    }
}

/// Turns transparent huge pages off for this process, as Redis does with its
/// default `disable-thp yes`: with THP a page of 2 MiB becomes resident when
/// one byte of it is touched, which cost us 22 bytes of RSS per key at a
/// million keys (97 B/key with THP, 75 B/key without; used_memory 75 B/key).
pub fn disable_transparent_huge_pages() {
    // SAFETY: prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) only sets a flag on this
    // process's memory descriptor; it takes no pointers.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc != 0 {
        crate::log::verbose("could not disable transparent huge pages; RSS may be higher");
    }
}
