//! The MIDI transport floor: the event pool and allocator (IAllocatorMXF), later the chains and
//! sequencing the render and capture paths share. dmus-contract.md sections 1, 3 and 4.
//!
//! Unsafe code here is confined to the lock-free core (`free_list`, `event_pool`), the COM
//! trampolines (`allocator`, `imxf`) and the one COM call out (`clock`: IMasterClock::GetTime);
//! what the floors above see is safe.

mod allocator;
mod clock;
pub mod counter;
mod event_pool;
mod free_list;
mod imxf;
mod inbox;
pub mod output;
mod sequencer;
mod stats;
pub(crate) mod sync;

#[cfg(all(test, loom))]
mod loom_models;

pub use allocator::{Allocator, AsAllocator};
pub use clock::{Clock, KernelClock, MasterClock};
pub use event_pool::{EVENT_STRIDE, EventPool, MAX_PACKAGE_DEPTH, POOL_TAG, PoolConfig, PutReport};
pub use free_list::MAX_SLOTS;
pub use imxf::Mxf;
pub use inbox::{Chains, Inbox};
pub use sequencer::{SEQUENCER_TAG, Sequencer, SequencerStats};
pub use stats::{PoolStats, Rejections, SlotStats};
