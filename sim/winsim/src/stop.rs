//! How a run of image code ends when the image cannot go on: a fault the trap layer caught, a
//! bug check, or a deadlock Windows would never come back from. The run's thread is then
//! abandoned (parked forever, leaked with what it owned): neither image code nor the host code
//! below it on that stack can be resumed or unwound. The caller of [`run`] gets the [`Stop`].

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use image_loader::Fault;
use serde::Serialize;

use crate::state::DriverState;
use crate::verifier::lock;

/// Why a run of image code stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Stop {
    /// A fault in the image's code: an instruction the trap layer does not emulate, or an
    /// access violation. The description names the RVA, the instruction and the symbol.
    Fault(String),
    /// KeBugCheckEx: its code and parameters; for the driver's panic handler, the panic's
    /// file and line.
    BugCheck {
        code: u32,
        parameters: [usize; 4],
        text: String,
    },
    /// A spin lock that can never be had.
    Deadlock(String),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Fault(text) => write!(f, "fault: {text}"),
            Stop::BugCheck {
                code,
                parameters,
                text,
            } => {
                write!(
                    f,
                    "bug check {code:#010x} ({:#x}, {:#x}, {:#x}, {:#x})",
                    parameters[0], parameters[1], parameters[2], parameters[3]
                )?;
                if !text.is_empty() {
                    write!(f, ": {text}")?;
                }
                Ok(())
            }
            Stop::Deadlock(text) => write!(f, "deadlock: {text}"),
        }
    }
}

impl Stop {
    pub(crate) fn from_fault(fault: &Fault, st: &DriverState) -> Stop {
        Stop::Fault(fault.describe(st.symbols.as_ref()))
    }
}

/// Where a stop goes: the run in progress.
pub(crate) trait StopSink: Send + Sync {
    fn stop(&self, stop: Stop);
}

/// One run's outcome: the closure's return (or panic), or the first stop.
struct RunSlot<T> {
    outcome: Mutex<Option<Result<thread::Result<T>, Stop>>>,
    done: Condvar,
}

impl<T> RunSlot<T> {
    fn finish(&self, outcome: Result<thread::Result<T>, Stop>) {
        let mut slot = lock(&self.outcome);
        if slot.is_none() {
            *slot = Some(outcome);
            self.done.notify_all();
        }
    }

    fn wait(&self) -> Result<thread::Result<T>, Stop> {
        let mut slot = lock(&self.outcome);
        loop {
            if let Some(outcome) = slot.take() {
                return outcome;
            }
            slot = self.done.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl<T: Send> StopSink for RunSlot<T> {
    fn stop(&self, stop: Stop) {
        self.finish(Err(stop));
    }
}

/// Records `stop` for the run in progress (the trap layer abandons the thread itself).
pub(crate) fn report(st: &DriverState, stop: Stop) {
    eprintln!("image stopped: {stop}");
    lock(&st.stops).push(stop.clone());
    if let Some(run) = lock(&st.run).clone() {
        run.stop(stop);
    }
}

/// Records `stop` and abandons the calling thread.
pub(crate) fn abandon(st: &DriverState, stop: Stop) -> ! {
    report(st, stop);
    park_forever()
}

/// A stop from code no loaded image owns (cannot happen through the import table): the
/// process cannot tell whose run to end.
pub(crate) fn abandon_unowned(stop: Stop) -> ! {
    eprintln!("image stopped outside any loaded image: {stop}");
    std::process::abort()
}

fn park_forever() -> ! {
    loop {
        thread::park();
    }
}

/// Runs `f` on a thread of its own (prepared for image code, on `st`'s machine) and waits for
/// it: `Ok` with what it returned, or the [`Stop`] that ended it. One run at a time per image.
/// A panic in `f` is resumed in the caller.
pub(crate) fn run<T: Send + 'static>(
    st: &Arc<DriverState>,
    stack_size: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Stop> {
    let slot = Arc::new(RunSlot {
        outcome: Mutex::new(None),
        done: Condvar::new(),
    });
    let sink: Arc<dyn StopSink> = slot.clone();
    *lock(&st.run) = Some(sink);
    let theirs = slot.clone();
    let machine = st.machine.clone();
    let state = st.clone();
    let spawned = thread::Builder::new()
        .name("image".into())
        .stack_size(stack_size)
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| {
                let _machine = machine.enter();
                crate::state::set_running(&state);
                if let Err(e) = image_loader::trap::enter_thread() {
                    panic!("cannot prepare the thread for image code: {e}");
                }
                f()
            }));
            theirs.finish(Ok(result));
        });
    let handle = match spawned {
        Ok(handle) => handle,
        Err(e) => panic!("cannot spawn the image thread: {e}"),
    };
    let outcome = slot.wait();
    *lock(&st.run) = None;
    match outcome {
        Ok(Ok(value)) => {
            let _ = handle.join();
            Ok(value)
        }
        Ok(Err(payload)) => {
            let _ = handle.join();
            resume_unwind(payload)
        }
        // The thread is parked for good: not joined.
        Err(stop) => Err(stop),
    }
}
