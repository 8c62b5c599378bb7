//! Platform services: the only floor that talks to ntoskrnl.
//!
//! One API, two implementations chosen at compile time:
//! - Windows (`windows.rs`): the kernel routines of `crate::abi` (wdm.h), nothing else.
//! - everywhere else (`host.rs`): a simulated machine on `std`, so that every floor above this
//!   one runs unchanged in host tests. It also enforces the project's kernel rules that Windows
//!   would only punish with a bugcheck or a glitch (see [`host`] and its `Violation`s).
//!
//! What each service may be called at (the IRQL column is the contract; docs/dmus-contract.md
//! section 3 says which COM calls arrive at which IRQL):
//!
//! | service | IRQL |
//! |---|---|
//! | [`pool::allocate`] | PASSIVE or APC only: this project never allocates at DISPATCH_LEVEL or above (Windows would allow non-paged pool at DISPATCH; the host refuses it so tests catch it) |
//! | [`pool::free`] | <= DISPATCH_LEVEL |
//! | `pool_vec::PoolVec`: created at PASSIVE_LEVEL (it allocates); push, pop, dropped | <= DISPATCH_LEVEL |
//! | [`irql::current`] | any |
//! | [`SpinLock::lock`] | <= DISPATCH_LEVEL; the guard holds the CPU at DISPATCH_LEVEL |
//! | [`SpinLock::lock_at_dpc_level`] | exactly DISPATCH_LEVEL |
//! | [`time::now_100ns`] | any |
//! | [`time::stall_us`] | any; at DISPATCH_LEVEL and above cut to [`time::MAX_STALL_AT_DISPATCH_US`] |
//! | `io_port::IoPortRange` read/write (Windows) | any, up to DIRQL |
//! | [`Timer::init`](timer::Timer::init), [`Timer::arm`](timer::Timer::arm), [`Timer::cancel`](timer::Timer::cancel) | <= DISPATCH_LEVEL; the callback runs at DISPATCH_LEVEL |
//! | [`Timer::shutdown`](timer::Timer::shutdown) and dropping an initialized `Timer` | PASSIVE_LEVEL |
//! | `flush_dpcs` | PASSIVE_LEVEL (a no-op elsewhere) |
//! | `deferred::defer` | <= DISPATCH_LEVEL |
//! | [`deferred::run_deferred`] | PASSIVE_LEVEL (a no-op elsewhere) |
//! | [`dbg_print!`](crate::dbg_print), [`dbg_error!`](crate::dbg_error) | any (<= DIRQL) |
//!
//! Nothing here panics (the host implementation panics only to stop a test that would
//! otherwise hang, e.g. on a re-entrant spin-lock acquisition), and nothing spins without
//! bound except a spin lock waiting for its owner.

pub(crate) mod counter;
pub mod debug;
pub mod deferred;
#[cfg(target_os = "windows")]
pub(crate) mod io_port;
pub mod irql;
pub mod pool;
pub(crate) mod pool_vec;
pub(crate) mod spin_lock;
pub(crate) mod sync;
pub mod time;
pub(crate) mod timer;

#[cfg(not(target_os = "windows"))]
pub mod host;
#[cfg(not(target_os = "windows"))]
use host as sys;

#[cfg(target_os = "windows")]
mod windows;
#[cfg(target_os = "windows")]
use windows as sys;

pub use irql::{DISPATCH_LEVEL, KIRQL, PASSIVE_LEVEL};
pub use pool::PoolTag;
pub use spin_lock::{SpinLock, SpinLockGuard};
pub use timer::Timer;
pub(crate) use timer::flush_dpcs;
