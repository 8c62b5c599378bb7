//! The capture sink: the IMXF the port connects as the capture stream's output
//! (docs/dmus-contract.md sections 3 and 4). The stream hands it chains at DISPATCH_LEVEL; it turns
//! them into complete messages for the [`Packer`] and gives every event back to the
//! allocator (IAllocatorMXF::PutMessage), always: the allocator is the last destination.
//!
//! - A COMPLETE event is one message: packed as it is, at its time. Its data is inline
//!   (`abData`) up to 8 bytes and in a buffer (`pbData`) beyond; the only MIDI message longer
//!   than 8 bytes is a SysEx, so a long COMPLETE event must be a whole one (0xF0, data bytes,
//!   0xF7). One that is not a message (it starts with a data byte, or is empty, or is long
//!   and not a whole SysEx) is counted malformed and skipped.
//! - INCOMPLETE events are raw fragments (the pieces of a SysEx): their bytes go through a
//!   MIDI [`Parser`], one per channel group, whose messages are packed stamped with the time
//!   of the event that started them (each byte of a fragment carries its event's time). A
//!   SysEx is collected from its 0xF0 to its 0xF7; a status byte that cuts it packs what
//!   there was (counted). A COMPLETE non-real-time event arriving in a group whose SysEx is
//!   still open cuts it too, and discards an unfinished message there (counted).
//! - The DMUS_KERNEL_EVENT page
//!   (<https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/dmusicks/ns-dmusicks-_dmus_kernel_event>)
//!   allows `pbData` only "if uFlags is set to DMUS_KEF_EVENT_COMPLETE and cbEvent is greater
//!   than sizeof(PBYTE)": an INCOMPLETE event with cbEvent > 8 breaks that rule, so it is
//!   counted malformed and skipped (its bytes lost, which the run's comparison shows too).
//! - Packages are not what a capture stream sends: counted and skipped (the allocator takes
//!   their contents back with them).

use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard};

use dmus_miniport::abi::{
    DMUS_KEF_EVENT_INCOMPLETE, DMUS_KERNEL_EVENT_SHORT_MAX, IAllocatorMXF, IID_IMXF, IMXF,
    IMXFVtbl, KSSTATE, KernelEvent, NT_SUCCESS, NTSTATUS, PDMUS_KERNEL_EVENT, PMXF,
    STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, STATUS_SUCCESS, StreamState,
};
use dmus_miniport::com::{ComClass, ComObject, ComPtr, ComRef, InterfaceEntry};
use dmus_miniport::com_interfaces;
use dmus_miniport::kernel::PoolTag;
use dmus_miniport::midi::{Output, Parser, Status, is_realtime};
use dmus_miniport::mxf::{MAX_SLOTS, Mxf};
use serde::Serialize;

use super::event::EventView;
use super::packer::{Packer, PackerStats};
use crate::buffer::PortBuffer;

/// The sink's pool tag.
pub const CAPTURE_SINK_TAG: PoolTag = PoolTag::new(b"HPsk");

/// What the sink did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SinkStats {
    /// Chains received.
    pub chains: u64,
    /// Events received.
    pub events: u64,
    /// COMPLETE events packed as they were.
    pub complete: u64,
    /// Of those, whole SysExs (inline up to 8 bytes, in a buffer beyond).
    pub complete_sysex: u64,
    /// INCOMPLETE events re-parsed.
    pub incomplete_reparsed: u64,
    /// Messages the re-parsing completed.
    pub reparsed_messages: u64,
    /// SysExs cut by a status byte before their 0xF7 (packed as they were).
    pub sysex_cut: u64,
    /// Bytes of fragments the parser dropped (no status to belong to, undefined statuses).
    pub dropped_bytes: u64,
    /// Messages the parser discarded unfinished (a status byte came first).
    pub truncated_messages: u64,
    /// Events skipped as malformed: COMPLETE ones that are not one message (empty, data
    /// first, longer than 8 bytes and not a whole SysEx), INCOMPLETE ones of more than 8
    /// bytes (the DDI allows pbData only in a COMPLETE event), unreadable ones.
    pub malformed_events: u64,
    /// Package events: skipped.
    pub packages: u64,
    /// Chains the walk cut (longer than any pool: a loop).
    pub cut_chains: u64,
    /// Chains the allocator refused (some events in them were not its own).
    pub give_back_failures: u64,
}

/// One channel group's re-parsing state.
#[derive(Default)]
struct Group {
    parser: Parser,
    /// The SysEx being collected: its start time and bytes.
    sysex: Option<(i64, Vec<u8>)>,
}

struct State {
    groups: BTreeMap<u16, Group>,
    packer: Packer,
    stats: SinkStats,
}

/// The capture sink.
pub struct CaptureSink {
    allocator: ComPtr<IAllocatorMXF>,
    /// GetBufferSize: a long event's data is at most this long.
    buffer_size: u16,
    state: Mutex<State>,
}

// SAFETY: one interface, IMXF in slot 0, built by `IMXFVtbl::new::<CaptureSink, 0>` from the
// unknown-slot trampolines of slot 0.
unsafe impl ComClass for CaptureSink {
    type Primary = IMXF;
    const TAG: PoolTag = CAPTURE_SINK_TAG;
    const INTERFACES: &'static [InterfaceEntry] =
        com_interfaces![CaptureSink; [IID_IMXF] => IMXFVtbl::new];
}

impl CaptureSink {
    /// A sink giving events back to `allocator` and packing buffers of `capacity` bytes.
    /// PASSIVE_LEVEL (it allocates).
    pub fn create(
        allocator: ComPtr<IAllocatorMXF>,
        capacity: usize,
    ) -> Result<ComRef<CaptureSink>, NTSTATUS> {
        let buffer_size = allocator.get_buffer_size();
        ComObject::create(CaptureSink {
            allocator,
            buffer_size,
            state: Mutex::new(State {
                groups: BTreeMap::new(),
                packer: Packer::new(capacity),
                stats: SinkStats::default(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves valid state behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The buffers packed since the last call (the application's Read).
    pub fn take_buffers(&self) -> Vec<PortBuffer> {
        self.lock().packer.take()
    }

    pub fn stats(&self) -> SinkStats {
        self.lock().stats
    }

    pub fn packer_stats(&self) -> PackerStats {
        self.lock().packer.stats()
    }

    /// Reads one event of a chain handed to us and files what it holds.
    fn take_event(&self, state: &mut State, event: NonNull<KernelEvent>) {
        state.stats.events += 1;
        // SAFETY: an event of a chain the capture stream handed us (PutMessage): ours until we
        // give the chain to the allocator, and a long one's pbData is a buffer from the
        // allocator of GetBufferSize bytes (section 4; `read` checks cbEvent against it).
        let view = unsafe { EventView::read(event, self.buffer_size) };
        let Some(view) = view else {
            // SAFETY: as above.
            if unsafe { event.as_ref() }.is_package() {
                state.stats.packages += 1;
            } else {
                state.stats.malformed_events += 1;
            }
            return;
        };
        if view.flags & DMUS_KEF_EVENT_INCOMPLETE == 0 {
            complete(state, &view);
        } else if view.data.len() > DMUS_KERNEL_EVENT_SHORT_MAX {
            state.stats.malformed_events += 1;
        } else {
            incomplete(state, &view);
        }
    }
}

/// A COMPLETE event: one message.
fn complete(state: &mut State, view: &EventView) {
    let Some(&first) = view.data.first() else {
        state.stats.malformed_events += 1;
        return;
    };
    if Status::new(first).is_none() {
        state.stats.malformed_events += 1;
        return;
    }
    let sysex = is_whole_sysex(&view.data);
    if view.data.len() > DMUS_KERNEL_EVENT_SHORT_MAX && !sysex {
        state.stats.malformed_events += 1;
        return;
    }
    let group = view.channel_group;
    if !is_realtime(first) {
        // A message between a SysEx's bytes ends it, as a status byte on the wire would.
        let g = state.groups.entry(group).or_default();
        let open = g.sysex.take();
        if g.parser.pending_len() > 0 {
            state.stats.truncated_messages += 1;
        }
        g.parser.reset();
        if let Some((time, bytes)) = open {
            state.stats.sysex_cut += 1;
            state.stats.reparsed_messages += 1;
            state.packer.pack(time, group, &bytes);
        }
    }
    state.stats.complete += 1;
    if sysex {
        state.stats.complete_sysex += 1;
    }
    state.packer.pack(view.time, group, &view.data);
}

/// Whether `data` is one whole SysEx: 0xF0, data bytes, 0xF7.
fn is_whole_sysex(data: &[u8]) -> bool {
    data.first() == Some(&0xF0) && crate::buffer::is_one_message(data)
}

/// An INCOMPLETE event: raw bytes through the group's parser.
fn incomplete(state: &mut State, view: &EventView) {
    state.stats.incomplete_reparsed += 1;
    let group = view.channel_group;
    let State {
        groups,
        packer,
        stats,
    } = state;
    let g = groups.entry(group).or_default();
    for &byte in &view.data {
        let step = g.parser.push(byte, view.time);
        if step.sysex_cut
            && let Some((time, bytes)) = g.sysex.take()
        {
            stats.sysex_cut += 1;
            stats.reparsed_messages += 1;
            packer.pack(time, group, &bytes);
        }
        if step.truncated > 0 {
            stats.truncated_messages += 1;
        }
        match step.output {
            Output::Pending => {}
            Output::Message(m) => {
                stats.reparsed_messages += 1;
                packer.pack(m.time(), group, m.bytes());
            }
            Output::Realtime { byte, time } => {
                stats.reparsed_messages += 1;
                packer.pack(time, group, &[byte]);
            }
            Output::SysEx {
                byte,
                time,
                start,
                end,
            } => {
                if start {
                    g.sysex = Some((time, vec![byte]));
                } else if let Some((_, bytes)) = g.sysex.as_mut() {
                    bytes.push(byte);
                }
                if end && let Some((time, bytes)) = g.sysex.take() {
                    stats.reparsed_messages += 1;
                    packer.pack(time, group, &bytes);
                }
            }
            Output::Dropped(_) => stats.dropped_bytes += 1,
        }
    }
}

impl Mxf for CaptureSink {
    /// Any KSSTATE: the sink holds nothing between chains but the re-parsing state.
    fn set_state(&self, state: KSSTATE) -> NTSTATUS {
        match StreamState::from_ksstate(state) {
            Some(_) => STATUS_SUCCESS,
            None => STATUS_INVALID_PARAMETER,
        }
    }

    /// DISPATCH_LEVEL: files every event of the chain, then gives the chain to the allocator.
    fn put_message(&self, event: PDMUS_KERNEL_EVENT) -> NTSTATUS {
        let Some(head) = NonNull::new(event) else {
            return STATUS_SUCCESS;
        };
        {
            let mut state = self.lock();
            state.stats.chains += 1;
            let mut next = Some(head);
            let mut walked = 0;
            while let Some(e) = next {
                if walked == MAX_SLOTS {
                    state.stats.cut_chains += 1;
                    break;
                }
                walked += 1;
                self.take_event(&mut state, e);
                // SAFETY: an event of the chain handed to us (see take_event).
                next = NonNull::new(unsafe { e.as_ref() }.pNextEvt);
            }
        }
        // SAFETY: the whole chain is handed over (events of this allocator, handed to us);
        // DISPATCH_LEVEL or below (section 3).
        let status = unsafe { self.allocator.put_message(head) };
        if !NT_SUCCESS(status) {
            self.lock().stats.give_back_failures += 1;
        }
        STATUS_SUCCESS
    }

    /// The sink's destination is the allocator, always: no output.
    fn connect_output(&self, _sink: Option<ComPtr<IMXF>>) -> NTSTATUS {
        STATUS_NOT_SUPPORTED
    }

    fn disconnect_output(&self, _sink: PMXF) -> NTSTATUS {
        STATUS_NOT_SUPPORTED
    }
}
