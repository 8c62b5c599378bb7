//! Running image code on a thread of its own, so that a fault becomes an `Err` for the caller
//! instead of the end of the process.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use crate::fault::Fault;

/// Where the trap layer sends a fault of the thread it happened on.
trait FaultSink: Send + Sync {
    fn fault(&self, fault: Fault);
}

thread_local! {
    /// The run this thread serves, if it is a [`run_guarded`] thread.
    static CURRENT: RefCell<Option<Arc<dyn FaultSink>>> = const { RefCell::new(None) };
}

enum State<T> {
    Running,
    Returned(thread::Result<T>),
    Faulted(Fault),
}

/// One run's outcome, filled by whichever comes first: the closure returning or a fault.
struct Run<T> {
    state: Mutex<State<T>>,
    done: Condvar,
}

impl<T> Run<T> {
    fn finish(&self, outcome: State<T>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*state, State::Running) {
            *state = outcome;
            self.done.notify_all();
        }
    }

    fn wait(&self) -> State<T> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while matches!(*state, State::Running) {
            state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        std::mem::replace(&mut *state, State::Running)
    }
}

impl<T: Send> FaultSink for Run<T> {
    fn fault(&self, fault: Fault) {
        self.finish(State::Faulted(fault));
    }
}

/// Called by the trap layer's fault path on the faulting thread (not async-signal-safe: see
/// [`crate::trap`]). Does nothing on a thread that is not a [`run_guarded`] thread.
pub(crate) fn post_fault(fault: Fault) {
    let sink = CURRENT
        .try_with(|current| current.try_borrow().ok().and_then(|s| s.clone()))
        .ok()
        .flatten();
    if let Some(sink) = sink {
        sink.fault(fault);
    }
}

/// Runs `f` on a new thread named "image" with `stack_size` bytes of stack, prepared with
/// [`crate::trap::enter_thread`], and waits for it.
///
/// `Ok` is what `f` returned. `Err` is the first fault in a registered image's code on that
/// thread (also reported to the image's [`crate::TrapHost::fault`]): the thread is then
/// parked forever and deliberately leaked, with everything it owned, because the image code
/// it was running cannot be resumed or unwound. Locks that code (or host code below it on
/// the same thread) held stay held.
///
/// A panic in `f` is resumed in the caller. Panics if the thread cannot be spawned or the
/// trap layer cannot be set up (e.g. not on Linux x86_64).
pub fn run_guarded<T: Send + 'static>(
    stack_size: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Fault> {
    let run = Arc::new(Run {
        state: Mutex::new(State::Running),
        done: Condvar::new(),
    });
    let theirs = Arc::clone(&run);
    let thread = thread::Builder::new()
        .name("image".into())
        .stack_size(stack_size)
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| {
                if let Err(e) = crate::trap::enter_thread() {
                    panic!("run_guarded: cannot prepare the thread for image code: {e}");
                }
                let sink: Arc<dyn FaultSink> = theirs.clone();
                CURRENT.with(|current| *current.borrow_mut() = Some(sink));
                f()
            }));
            CURRENT.with(|current| current.borrow_mut().take());
            theirs.finish(State::Returned(result));
        })
        .expect("run_guarded: cannot spawn the image thread");
    match run.wait() {
        State::Returned(Ok(value)) => {
            let _ = thread.join();
            Ok(value)
        }
        State::Returned(Err(payload)) => {
            let _ = thread.join();
            resume_unwind(payload)
        }
        // The thread is parked for good: dropping the handle detaches it.
        State::Faulted(fault) => Err(fault),
        State::Running => unreachable!("wait returns only a finished state"),
    }
}
