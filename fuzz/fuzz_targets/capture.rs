//! The capture stream under arbitrary input and arbitrary timing of everything around it:
//! wire bytes arriving at DIRQL, services from the port's DPC, the allocator running dry and
//! recovering, state changes. Whatever happens, nothing panics, no kernel rule is broken, every
//! byte the ISR read is accounted for, and every event and buffer ends back in the allocator.
//! (What the events contain is checked against the canonical form by the parser target and
//! tests/capture.rs; this one is about the stream's bookkeeping.)
#![no_main]

use std::ptr;
use std::sync::Arc;

use dmus_miniport::abi::{
    KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN, KSSTATE_STOP, STATUS_SUCCESS,
};
use dmus_miniport::capture::{CaptureConfig, CaptureRing, CaptureStream, Intake};
use dmus_miniport::kernel::time::TICKS_PER_MS;
use dmus_miniport::mxf::{Allocator, KernelClock, PoolConfig};
use dmus_miniport::sim::host;
// A device interrupt's IRQL: the modelled interrupt's.
use dmus_miniport::sim::portcls::DIRQL;
use dmus_testkit::event::{Event, drain_events, give_back};
use dmus_testkit::mxf::{put, set_state};
use dmus_testkit::notify::CountingNotify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let baseline = host::outstanding_allocations();
    run(data);
    assert_eq!(
        host::outstanding_allocations(),
        baseline,
        "pool blocks leaked"
    );
    assert_eq!(host::take_violations(), [], "a kernel rule was broken");
    assert_eq!(
        host::machine().pending_timers(),
        0,
        "a timer outlived its stream"
    );
});

fn run(data: &[u8]) {
    let [sizes, shape, program @ ..] = data else {
        return;
    };
    let (sizes, shape) = (*sizes, *shape);
    // Small pools and rings, so that exhaustion and overflow happen.
    let alloc = Allocator::create(PoolConfig {
        events: 1 + u32::from(sizes & 0x0F),
        buffers: u32::from(sizes >> 6),
        buffer_size: 16,
    })
    .expect("a small allocator");
    let ring = Arc::new(CaptureRing::new(16 << (sizes >> 4 & 3)).expect("a small ring"));
    // The port's Notify only counts: the fuzzer decides when the service DPC runs instead.
    let intake = Intake::new(ring.clone(), KernelClock, CountingNotify::default());
    let stream = CaptureStream::create(
        CaptureConfig {
            channel_group: 1,
            retry_100ns: TICKS_PER_MS,
            bytes_per_service: 1 + u32::from(shape >> 3),
            // Up to 7 spares: independent of the pool's size, so that more spares than the
            // pool has events is tried too.
            spare_events: u32::from(shape & 7),
        },
        ring.clone(),
        alloc.primary(),
    )
    .expect("a stream");
    let imxf = stream.primary();
    let set_state = |state| set_state(&imxf, state);
    // PutMessage(NULL) at DISPATCH_LEVEL is the port's service call.
    let service = || put(&imxf, ptr::null_mut());
    assert_eq!(set_state(KSSTATE_RUN), STATUS_SUCCESS);
    let mut held: Vec<Event> = Vec::new();
    let mut received = 0u64;
    for pair in program.chunks_exact(2) {
        let (op, value) = (pair[0], pair[1]);
        match op % 16 {
            0..=9 => {
                let _isr = host::raise_irql(DIRQL);
                intake.receive(value);
                received += 1;
            }
            10 | 11 => {
                assert_eq!(service(), STATUS_SUCCESS);
            }
            12 => {
                host::advance(i64::from(value) * TICKS_PER_MS / 16);
            }
            13 => {
                // The allocator runs dry (someone else holds its events), or recovers.
                if held.is_empty() {
                    held = drain_events(&alloc);
                } else {
                    give_back(&alloc, std::mem::take(&mut held));
                }
            }
            14 => {
                let state = [KSSTATE_STOP, KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN]
                    [usize::from(value & 3)];
                assert_eq!(set_state(state), STATUS_SUCCESS);
            }
            _ => {}
        }
    }
    // Recover, deliver what is left, and account for every byte.
    give_back(&alloc, held);
    assert_eq!(set_state(KSSTATE_RUN), STATUS_SUCCESS);
    // One clock tick per round (Windows' 15.625 ms by default): a retry timer fires on it.
    // Each round's service takes at least one byte, so the ring's length bounds the rounds
    // (the stream's own timer may take more per tick; on the ideal clock it drains at once).
    let round = host::machine().clock_tick().unwrap_or(TICKS_PER_MS);
    for _ in 0..ring.len() + 64 {
        if ring.is_empty() {
            break;
        }
        service();
        host::advance(round);
    }
    let stats = stream.stats();
    assert_eq!(
        stats.bytes_in + stats.ring_overflow + stats.refused_by_state,
        received
    );
    assert_eq!(ring.len(), 0, "bytes stuck in the ring: {stats:?}");
    assert_eq!(
        stats.bytes_parsed + stats.discarded_by_state,
        stats.bytes_in
    );
    drop(imxf);
    drop(stream);
    let pool = alloc.pool().stats();
    assert_eq!(
        (pool.events.in_use, pool.buffers.in_use),
        (0, 0),
        "{pool:?}"
    );
    assert_eq!(pool.rejected.refused(), 0, "{pool:?}");
}
