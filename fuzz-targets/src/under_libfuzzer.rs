//! Running a target under libFuzzer, where linli's own panic containment must work.
//!
//! libfuzzer-sys installs a panic hook that aborts at once, so that every panic is a
//! crash. But linli contains Automerge's panics on a peer's changes (they become
//! refusals, see `linli_core::doc`), and a hook that aborts never lets them unwind to
//! where they are caught. [`fuzz`] swaps in a quiet hook that only notes the panic
//! (with a backtrace when `RUST_BACKTRACE` asks for one). A panic that reaches the
//! target's top, uncaught, is printed and aborts: libFuzzer sees the crash as before.

use crate::Target;
use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::panic::{self, catch_unwind};
use std::sync::Once;

thread_local! {
    /// The last panic of this thread, as its hook saw it.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `target` on `data` as a fuzz target does; aborts on a panic nothing contained.
pub fn fuzz(target: Target, data: &[u8]) {
    static QUIET_HOOK: Once = Once::new();
    QUIET_HOOK.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let noted = format!("{info}\n{}", Backtrace::capture());
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(noted));
        }));
    });
    if catch_unwind(|| target(data)).is_err() {
        let noted = LAST_PANIC.with(|last| last.borrow_mut().take());
        eprintln!("{}", noted.unwrap_or_else(|| "a panic the hook did not see".into()));
        std::process::abort();
    }
}
