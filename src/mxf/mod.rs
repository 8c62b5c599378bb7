//! The MIDI transport floor: the event pool and allocator (IAllocatorMXF), and what the render
//! and capture paths share: event chains, the render inbox and sequencer, the clocks, the
//! output rule. docs/dmus-contract.md sections 1, 3 and 4.
//!
//! Unsafe code here is confined to the lock-free core (`free_list`, `event_pool`, `inbox`), the
//! event links and blocks the floor owns (`chain`, `sequencer`), the COM trampolines
//! (`allocator`, `imxf`) and the COM calls out (`clock`: IMasterClock::GetTime; `output`:
//! PutMessage to a stream's output or allocator); what the floors above see is safe, but for
//! handing events over.

mod allocator;
mod chain;
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
pub use chain::EventChain;
pub use clock::{Clock, KernelClock, MasterClock};
pub use event_pool::{EVENT_STRIDE, EventPool, MAX_PACKAGE_DEPTH, POOL_TAG, PoolConfig, PutReport};
pub use free_list::MAX_SLOTS;
pub use imxf::Mxf;
pub use inbox::{Inbox, MAX_LIST_EVENTS};
pub use sequencer::{SEQUENCER_TAG, Sequencer, SequencerStats};
pub use stats::{PoolStats, Rejections, SlotStats};
