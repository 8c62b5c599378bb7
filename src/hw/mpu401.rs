//! An MPU-401 in UART mode (docs/dmus-contract.md section 6), behind any [`PortIo`].
//!
//! Registers: data at base + 0; status (read) and command (write) at base + 1. Status bit 0x40
//! (DRR) set: the output side cannot take a byte; bit 0x80 (DSR) set: no input byte waiting.
//! Reset is command 0xFF, UART mode 0x3F; the card answers each with 0xFE on the data port.
//!
//! Bounds:
//! - [`try_send`](MidiDevice::try_send): one status read, then one data write or one clock
//!   read; [`try_receive`](MidiDevice::try_receive): one status read and at most one data
//!   read. No stall: on ISA each access costs about 1 us, so a call stays within ~2 us.
//! - A card busy for [`NOT_RESPONDING_AFTER_100NS`] (100 ms) is reported as
//!   [`DeviceError::NotResponding`]: at the wire rate (3125 bytes/s) that is ~312 byte times,
//!   twenty times what a 16-byte FIFO needs to drain.
//! - [`reset`](MidiDevice::reset): at PASSIVE_LEVEL only, stalls of [`STALL_STEP_US`] with
//!   a status check between them. Real cards are slow to acknowledge a reset (tens of
//!   milliseconds on some), so 0xFF waits up to [`RESET_ACK_POLLS`] polls (50 ms) for its
//!   0xFE; many clones never acknowledge 0x3F, so UART mode waits for its 0xFE only twice as
//!   long as the reset's took (at least [`ACK_POLLS`]) and goes on without it. At most
//!   [`RESET_MAX_STALL_US`] (about 151 ms, for a card that acknowledges nothing) in all; a
//!   card draining its FIFO at the wire rate takes a command within one byte time.
//!
//! ## Reset and the ISR
//! Once the interrupt is connected (re-initialisation at D0), the ISR reads the same data port
//! the reset polls. [`reset_synchronized`](Mpu401::reset_synchronized) runs each register step
//! through a [`Synchronize`] (IInterruptSync::CallSynchronizedRoutine): the command write, and
//! each poll (status read, then at most one data read). A step is a few register accesses at
//! DIRQL; the stalls between steps run at PASSIVE_LEVEL, outside, so the ISR is never held
//! off for longer than one step, and never for a 50 ms wait. What that buys:
//! - the ISR never reads the byte a poll has just seen in the status (the poll's data read
//!   would then read an empty port: 0xFF, garbage);
//! - every byte read outside UART mode, by the ISR or by a poll, is classified by the same
//!   rule (`Mpu401::not_midi`): 0xFE is the command's acknowledgement (counted for the
//!   waiting reset, whoever read it), anything else is not MIDI yet (the card's own answers,
//!   or input in the card's intelligent mode) and is dropped and counted
//!   ([`DeviceStats::input_dropped`]), never handed to capture nor mixed into the command
//!   sequence.
//!
//! Known limit: a 0xFE from MIDI IN (Active Sensing) read while a command's acknowledgement is
//! awaited cannot be told from it by value, and is taken for it. The card has taken the
//! command by then (0xFF switches it to intelligent mode at once), so the sequence goes on
//! correctly; but the acknowledgements then shift by one, and the card's last one may reach
//! capture as an Active Sensing byte in place of the one taken (one 0xFE in, one out; Active
//! Sensing only says "still connected"). A card in intelligent mode is not expected to pass
//! MIDI IN to the host at all, which leaves only the short wait after 0x3F open to this.

use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};

use super::stats::Counters;
use super::{DeviceError, DeviceStats, MidiDevice, PortIo, Sent, Synchronize, Unsynchronized};
use crate::kernel::counter::bump;
use crate::kernel::time::{self, TICKS_PER_MS};
use crate::kernel::{PASSIVE_LEVEL, irql};

/// Data register offset.
pub(crate) const DATA: u16 = 0;
/// Status register offset (reads).
pub(crate) const STATUS: u16 = 1;
/// Command register offset (writes): the same port as [`STATUS`].
pub(crate) const COMMAND: u16 = 1;
/// Status bit: set while the card cannot take a byte (Data Receive Ready, from its side).
pub(crate) const STATUS_DRR: u8 = 0x40;
/// Status bit: set while no input byte is waiting (Data Set Ready, from its side).
pub(crate) const STATUS_DSR: u8 = 0x80;
/// Command: reset (to "intelligent" mode). Acknowledged with [`ACK`], except by many cards
/// that are in UART mode, which reset silently.
pub(crate) const CMD_RESET: u8 = 0xFF;
/// Command: enter UART mode (raw MIDI bytes both ways; only [`CMD_RESET`] is a command then).
pub(crate) const CMD_UART_MODE: u8 = 0x3F;
/// The card's acknowledgement of a command, read from the data port.
pub(crate) const ACK: u8 = 0xFE;

/// How long the card may stay unable to take a byte before sends fail with
/// [`DeviceError::NotResponding`] instead of returning [`Sent::Busy`], in 100 ns units.
pub const NOT_RESPONDING_AFTER_100NS: i64 = 100 * TICKS_PER_MS;

/// How long an MPU-401 may still be sending what it has accepted, in 100 ns units: a 16-byte
/// output FIFO (common on compatibles; the original has less) and the byte on the wire, at
/// 320 us a byte. Before the card loses power or is reset, the driver lets this much time pass
/// after its last accepted byte (`Wire::drain`), or those bytes would never reach the wire.
pub(crate) const OUTPUT_DRAIN_100NS: i64 = 17 * 3_200;

/// One stall while polling during reset, in microseconds.
pub const STALL_STEP_US: u32 = 10;
/// Polls (one stall each) waiting for the card to take a command: 350 us, more than one byte
/// time (320 us), so that a card still draining a full FIFO after a burst takes the reset.
pub const READY_POLLS: u32 = 35;
/// Polls (one stall each) waiting at least for the acknowledgement of UART mode: 250 us.
pub const ACK_POLLS: u32 = 25;
/// Polls (one stall each) waiting for the acknowledgement of a reset: 50 ms, as slow cards
/// need (the WDK's MPU-401 sample waits about as long).
pub const RESET_ACK_POLLS: u32 = 5_000;
/// Times the reset command is tried: a card already in UART mode may reset without
/// acknowledging, and then acknowledges the second one.
pub(crate) const RESET_ATTEMPTS: u32 = 2;
/// Input bytes one command may read and discard while looking for its acknowledgement (MIDI
/// still arriving); a card whose DSR never sets cannot keep reset busy for longer.
pub(crate) const MAX_DISCARDED: u32 = 64;
/// The stall time of one command at most: 50.35 ms.
pub(crate) const COMMAND_MAX_STALL_US: u32 = (READY_POLLS + RESET_ACK_POLLS) * STALL_STEP_US;
/// The stall time of a whole reset at most (`RESET_ATTEMPTS` resets and the UART-mode
/// command): 151.05 ms.
pub const RESET_MAX_STALL_US: u32 = (RESET_ATTEMPTS + 1) * COMMAND_MAX_STALL_US;

/// `busy_since` when the last observation was "ready".
const NOT_BUSY: i64 = i64::MIN;

/// An MPU-401 UART at the registers `P` reaches.
#[derive(Debug)]
pub struct Mpu401<P: PortIo> {
    port: P,
    /// Set by a successful reset (the card is in UART mode); cleared when a reset starts.
    uart: AtomicBool,
    /// When a send first found the card busy, since the last accepted byte ([`NOT_BUSY`]
    /// otherwise). Only this driver writes to the card, so a card that is busy now and was
    /// busy then, with no byte accepted in between, has not drained anything since.
    busy_since: AtomicI64,
    /// Acknowledgements read while the card was not in UART mode, by the interrupt path or by
    /// a reset's poll (`Mpu401::not_midi`): a reset waiting for one counts those as its own.
    acks_taken: AtomicU32,
    /// The device's resources are gone ([`Mpu401::retire`]): no port I/O any more.
    retired: AtomicBool,
    counters: Counters,
}

impl<P: PortIo> Mpu401<P> {
    /// A device at `port`. It carries nothing until [`reset`](MidiDevice::reset) succeeds.
    pub const fn new(port: P) -> Self {
        Mpu401 {
            port,
            uart: AtomicBool::new(false),
            busy_since: AtomicI64::new(NOT_BUSY),
            acks_taken: AtomicU32::new(0),
            retired: AtomicBool::new(false),
            counters: Counters::new(),
        }
    }

    /// The registers.
    pub fn port(&self) -> &P {
        &self.port
    }

    /// Whether the last reset succeeded (the card is in UART mode).
    pub fn is_uart_mode(&self) -> bool {
        self.uart.load(Ordering::Acquire)
    }

    /// The device's I/O ports are about to be given back (the miniport's release, device
    /// stop or removal): from now on nothing touches them. A retired card reads as a card that
    /// is not there (0xFF: no input, never ready) and takes no writes; it is out of UART mode,
    /// so sends fail with [`DeviceError::NotReset`]. Any IRQL. A port access that passed the
    /// check before this call may still be under way: the caller waits for the DPCs and the
    /// ISR that make them (the miniport disconnects its interrupt and flushes the DPCs).
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        self.uart.store(false, Ordering::Release);
    }

    /// Whether [`Mpu401::retire`] was called.
    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// A register read, unless retired.
    fn read(&self, register: u16) -> u8 {
        if self.is_retired() {
            return 0xFF;
        }
        self.port.read(register)
    }

    /// A register write, unless retired.
    fn write(&self, register: u16, value: u8) {
        if !self.is_retired() {
            self.port.write(register, value);
        }
    }

    #[inline]
    fn status(&self) -> u8 {
        self.read(STATUS)
    }

    /// A send found the card busy: [`Sent::Busy`] unless it has been busy for too long.
    fn busy(&self) -> Result<Sent, DeviceError> {
        let now = time::now_100ns();
        let since = match self.busy_since.compare_exchange(
            NOT_BUSY,
            now,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => now,
            Err(since) => since,
        };
        if now.saturating_sub(since) >= NOT_RESPONDING_AFTER_100NS {
            bump(&self.counters.not_responding);
            Err(DeviceError::NotResponding)
        } else {
            bump(&self.counters.busy);
            Ok(Sent::Busy)
        }
    }

    /// Polls the status up to `polls` times, one stall apart, until `ready(status)`.
    fn wait_for(&self, polls: u32, ready: impl Fn(u8) -> bool) -> bool {
        for _ in 0..polls {
            if ready(self.status()) {
                return true;
            }
            time::stall_us(STALL_STEP_US);
        }
        ready(self.status())
    }

    /// A byte read outside UART mode (before or during a reset), by the ISR or a reset's poll:
    /// 0xFE is a command's acknowledgement, counted for the reset that waits for it; anything
    /// else is not MIDI (the card's own answers, or input it passed in intelligent mode) and is
    /// dropped, counted. Returns whether it was an acknowledgement.
    fn not_midi(&self, byte: u8) -> bool {
        if byte == ACK {
            self.acks_taken.fetch_add(1, Ordering::AcqRel);
            true
        } else {
            bump(&self.counters.input_dropped);
            false
        }
    }

    /// Runs `step` through `sync` and returns its result (runs it directly should `sync` not
    /// have: the step must happen either way).
    fn step<R>(&self, sync: &dyn Synchronize, mut step: impl FnMut() -> R) -> R {
        let mut out = None;
        sync.synchronized(&mut || out = Some(step()));
        match out {
            Some(r) => r,
            None => step(),
        }
    }

    /// One acknowledgement poll, synchronized with the ISR: whether an acknowledgement came
    /// since `acks_before` (read here, or by the ISR since the command), else whether a byte
    /// that was not one was read (and dropped). A status read and at most one data read.
    fn poll(&self, acks_before: u32) -> Poll {
        if self.acks_taken.load(Ordering::Acquire) != acks_before {
            return Poll::Acknowledged;
        }
        if self.status() & STATUS_DSR != 0 {
            return Poll::Nothing;
        }
        if self.not_midi(self.read(DATA)) {
            Poll::Acknowledged
        } else {
            Poll::Dropped
        }
    }

    /// Writes `command` once the card can take it and waits up to `ack_polls` polls for its
    /// [`ACK`], dropping other input. Returns the polls the acknowledgement took. At most
    /// [`COMMAND_MAX_STALL_US`] of stalls, all at PASSIVE_LEVEL between synchronized steps.
    fn command(
        &self,
        sync: &dyn Synchronize,
        command: u8,
        ack_polls: u32,
    ) -> Result<u32, DeviceError> {
        // Status reads only: the ISR cannot change DRR, so this wait needs no synchronization.
        if !self.wait_for(READY_POLLS, |s| s & STATUS_DRR == 0) {
            return Err(DeviceError::NotResponding);
        }
        // The count and the write in one step: an acknowledgement the ISR reads afterwards
        // is this command's, one it read before is not.
        let acks_before = self.step(sync, || {
            let before = self.acks_taken.load(Ordering::Acquire);
            self.write(COMMAND, command);
            before
        });
        let mut polls = 0;
        let mut discarded = 0;
        loop {
            match self.step(sync, || self.poll(acks_before)) {
                Poll::Acknowledged => return Ok(polls),
                Poll::Dropped => {
                    discarded += 1;
                    if discarded >= MAX_DISCARDED {
                        return Err(DeviceError::NoAcknowledge);
                    }
                    continue;
                }
                Poll::Nothing => {}
            }
            if polls >= ack_polls {
                return Err(DeviceError::NoAcknowledge);
            }
            polls += 1;
            time::stall_us(STALL_STEP_US);
        }
    }

    /// Reset (tried [`RESET_ATTEMPTS`] times, each acknowledgement awaited up to
    /// [`RESET_ACK_POLLS`]), then UART mode, whose acknowledgement is optional: awaited twice as
    /// long as the reset's took (at least [`ACK_POLLS`]), so that a card that does acknowledge
    /// has its 0xFE read here rather than taken for MIDI Active Sensing later.
    fn reset_sequence(&self, sync: &dyn Synchronize) -> Result<(), DeviceError> {
        let mut result = Err(DeviceError::NoAcknowledge);
        for _ in 0..RESET_ATTEMPTS {
            result = self.command(sync, CMD_RESET, RESET_ACK_POLLS);
            if result.is_ok() {
                break;
            }
        }
        let latency = result?;
        let wait = latency.saturating_mul(2).clamp(ACK_POLLS, RESET_ACK_POLLS);
        match self.command(sync, CMD_UART_MODE, wait) {
            Ok(_) => Ok(()),
            Err(DeviceError::NoAcknowledge) => {
                bump(&self.counters.uart_mode_unacknowledged);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// [`MidiDevice::reset`] with its register steps synchronized with the ISR through `sync`
    /// (module documentation, "Reset and the ISR"): for a reset while the interrupt is
    /// connected. The same handshake, bounds and PASSIVE_LEVEL rule; the stalls stay outside
    /// the synchronized steps. The caller keeps senders off the device meanwhile (the render
    /// streams' wire is held: `render::Wire::hold`).
    pub fn reset_synchronized(&self, sync: &dyn Synchronize) -> Result<(), DeviceError> {
        let result = if self.is_retired() {
            Err(DeviceError::Retired)
        } else if irql::current() != PASSIVE_LEVEL {
            Err(DeviceError::WrongIrql)
        } else {
            self.uart.store(false, Ordering::Release);
            self.busy_since.store(NOT_BUSY, Ordering::Relaxed);
            self.reset_sequence(sync)
        };
        match result {
            Ok(()) => {
                self.uart.store(true, Ordering::Release);
                bump(&self.counters.resets);
            }
            Err(_) => bump(&self.counters.reset_failures),
        }
        result
    }

    /// Input bytes dropped so far ([`DeviceStats::input_dropped`]): lets the ISR tell an
    /// interrupt whose byte it read and dropped (its own) from one that was not the card's.
    pub(crate) fn input_dropped(&self) -> u64 {
        self.counters.input_dropped.load(Ordering::Relaxed)
    }
}

/// What one acknowledgement poll saw.
enum Poll {
    Acknowledged,
    Dropped,
    Nothing,
}

impl<P: PortIo> MidiDevice for Mpu401<P> {
    /// One status read, then one data write (ready) or one clock read (busy).
    fn try_send(&self, byte: u8) -> Result<Sent, DeviceError> {
        if !self.uart.load(Ordering::Acquire) {
            bump(&self.counters.not_reset);
            return Err(DeviceError::NotReset);
        }
        if self.status() & STATUS_DRR != 0 {
            return self.busy();
        }
        self.write(DATA, byte);
        self.busy_since.store(NOT_BUSY, Ordering::Relaxed);
        bump(&self.counters.bytes_sent);
        Ok(Sent::Accepted)
    }

    /// One status read and, if a byte waits, one data read. Works before a reset too (to
    /// drain the card). Outside UART mode (before or during a reset) nothing read is MIDI: an
    /// `ACK` is the card answering a command and is handed to the waiting reset (the card's
    /// interrupt can reach the ISR before the reset's own poll sees it), anything else is
    /// dropped and counted (`Mpu401::not_midi`).
    fn try_receive(&self) -> Option<u8> {
        if self.status() & STATUS_DSR != 0 {
            return None;
        }
        let byte = self.read(DATA);
        if !self.uart.load(Ordering::Acquire) {
            self.not_midi(byte);
            return None;
        }
        bump(&self.counters.bytes_received);
        Some(byte)
    }

    fn can_send(&self) -> bool {
        self.uart.load(Ordering::Acquire) && self.status() & STATUS_DRR == 0
    }

    fn has_input(&self) -> bool {
        self.status() & STATUS_DSR == 0
    }

    /// 0xFF (once more if unacknowledged), acknowledged with 0xFE, then 0x3F (its 0xFE
    /// optional); at most [`RESET_MAX_STALL_US`] of stalls. Bytes the card held are dropped.
    /// Not synchronized with an ISR: for a card whose interrupt is not connected (Init resets
    /// before connecting it); see [`Mpu401::reset_synchronized`].
    fn reset(&self) -> Result<(), DeviceError> {
        self.reset_synchronized(&Unsynchronized)
    }

    fn stats(&self) -> DeviceStats {
        self.counters.snapshot()
    }
}
