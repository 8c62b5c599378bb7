//! The MIDI transport floor: the event pool and allocator (IAllocatorMXF), and what the render
//! and capture paths share: event chains, the output rule (`output`), the clocks, and the IMXF
//! trampolines. docs/dmus-contract.md sections 1, 3 and 4. (The render inbox and sequencer are
//! `render`'s; the counters and the loom shim are `kernel`'s.)
//!
//! Unsafe code here is confined to the lock-free core (`free_list`, `event_pool`), where raw
//! events become owned and are read (`owned_event`), the event links the floor owns (`chain`),
//! the COM trampolines (`allocator`, `imxf`) and handing chains on (`output`); what the floors
//! above see is safe, but for adopting raw events.

mod allocator;
mod chain;
mod clock;
mod event_pool;
mod free_list;
mod imxf;
pub(crate) mod output;
mod owned_event;
mod stats;

#[cfg(all(test, loom))]
mod loom_models;

pub use allocator::Allocator;
pub(crate) use chain::EventChain;
pub use clock::{Clock, KernelClock, MasterClock};
pub use event_pool::{EVENT_STRIDE, EventPool, MAX_PACKAGE_DEPTH, POOL_TAG, PoolConfig, PutReport};
pub use free_list::MAX_SLOTS;
pub use imxf::Mxf;
pub use owned_event::OwnedEvent;
pub(crate) use owned_event::{BadData, EventRef, INLINE_BYTES, PackageWalk};
pub use stats::{PoolStats, Rejections, SlotStats};
