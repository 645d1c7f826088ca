//! Running blocking work on a tokio worker thread without stalling the
//! worker's other tasks.

/// Runs `f` through `tokio::task::block_in_place` when called on a
/// multi-thread runtime, so the worker's queued tasks move to another thread
/// while `f` blocks; elsewhere (a current-thread runtime, `threads 1`, or no
/// runtime) `f` just runs, as blocking there cannot be avoided.
pub fn block_off_worker<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
