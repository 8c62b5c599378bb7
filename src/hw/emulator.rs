//! A register-level MPU-401 for host tests: implements [`PortIo`], so an
//! [`Mpu401`](super::Mpu401) drives it exactly as it drives the card's I/O ports.
//!
//! The model (docs/dmus-contract.md section 6):
//! - **Output**: a byte written to the data port in UART mode goes straight onto the wire if
//!   the transmitter is idle, else into an output FIFO of [`EmulatorConfig::output_fifo_depth`]
//!   bytes; the transmitter puts one byte on the wire every 320 us (31250 baud, 10 bits a byte:
//!   3125 bytes/s), times [`EmulatorConfig::slowdown`]. DRR (status 0x40) is set while the
//!   FIFO is full, so depth + 1 bytes can be written at once. The wire records each byte with
//!   the time its start bit went out ([`WireByte`]).
//! - **Input**: bytes a test pushes ([`Mpu401Emulator::push_input`]) wait in an input FIFO
//!   of [`EmulatorConfig::input_fifo_depth`] bytes (more are dropped and counted); DSR (status
//!   0x80) is clear while one is readable; reading the data port takes it.
//! - **Commands** (writes to base + 1): 0xFF resets (FIFOs emptied, intelligent mode) and is
//!   acknowledged with 0xFE on the data port [`EmulatorConfig::ack_delay_100ns`] later; in
//!   intelligent mode 0x3F enters UART mode and every command is acknowledged; in UART mode
//!   only 0xFF is a command, and it is acknowledged only if
//!   [`EmulatorConfig::acks_reset_in_uart_mode`].
//! - **The cable** ([`Mpu401Emulator::connect_cable`]): a MIDI cable from the card's MIDI OUT
//!   to its own MIDI IN. Each byte that goes onto the wire arrives at the input FIFO when its
//!   last bit has, one wire byte time ([`BYTE_TIME_100NS`]) after its start bit, whatever the
//!   transmitter's slowdown (that spaces the bytes, it does not slow the wire). A listener
//!   learns each byte's arrival time as the byte is written (so that the host side can raise
//!   the card's interrupt then), and [`Mpu401Emulator::next_input_time`] says when the next
//!   byte becomes readable. Bytes a reset drops from the output FIFO never reach the wire, so
//!   they never arrive; bytes already on the cable do.
//! - **Failures**: never ready (DRR stuck set), never acknowledging, slow.
//! - Unused status bits read as 1, so a driver that tests more than DRR and DSR fails.
//!
//! Time is the virtual clock of the [`Machine`] the emulator was created on: nothing happens
//! between accesses, and each access first brings the card up to the clock's present. The
//! state is shared (`Arc<Mutex<..>>`): clone the emulator to keep a handle for the test while
//! the `Mpu401` owns another.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::vec::Vec;

use super::PortIo;
use super::mpu401::{ACK, CMD_RESET, CMD_UART_MODE, COMMAND, DATA, STATUS, STATUS_DRR, STATUS_DSR};
use crate::kernel::host::Machine;

/// The wire's byte time at 31250 baud (10 bits a byte), in 100 ns units: 320 us.
pub const BYTE_TIME_100NS: i64 = 3200;

/// What the emulated card is like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// Bytes the output FIFO holds besides the one being transmitted (at least 1).
    pub output_fifo_depth: usize,
    /// Bytes the input FIFO holds; pushes beyond are dropped (counted).
    pub input_fifo_depth: usize,
    /// Delay between a command and its 0xFE, in 100 ns units.
    pub ack_delay_100ns: i64,
    /// The transmitter takes this many byte times per byte (1: the wire rate).
    pub slowdown: u32,
    /// The card starts in UART mode (a driver loaded after another one used it).
    pub start_in_uart_mode: bool,
    /// Whether 0xFF in UART mode is acknowledged (many cards reset silently).
    pub acks_reset_in_uart_mode: bool,
    /// DRR stuck set: the card never takes a byte or command.
    pub never_ready: bool,
    /// The card acknowledges no command.
    pub never_acknowledges: bool,
    /// Whether 0x3F (UART mode) is acknowledged: many clones enter UART mode silently.
    pub acks_uart_mode: bool,
}

impl Default for EmulatorConfig {
    /// A 16-byte output FIFO (common on MPU-401 compatibles), 64 bytes of input, a 20 us
    /// acknowledgement, the wire rate, starting in intelligent mode, and no failure.
    fn default() -> Self {
        EmulatorConfig {
            output_fifo_depth: 16,
            input_fifo_depth: 64,
            ack_delay_100ns: 200,
            slowdown: 1,
            start_in_uart_mode: false,
            acks_reset_in_uart_mode: false,
            never_ready: false,
            never_acknowledges: false,
            acks_uart_mode: true,
        }
    }
}

/// The card's mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// After power-on or 0xFF: the data port carries the MPU's own protocol, not MIDI.
    Intelligent,
    /// After 0x3F: raw MIDI bytes.
    Uart,
}

/// One byte on the wire and when its start bit went out, in 100 ns units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireByte {
    pub time_100ns: i64,
    pub byte: u8,
}

/// Everything the card saw that a correct driver should not cause, and the traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmulatorStats {
    /// Reads of the status register.
    pub status_reads: u64,
    /// Reads of the data register.
    pub data_reads: u64,
    /// Reads of the data register with no byte waiting (DSR set): they read 0xFF.
    pub empty_reads: u64,
    /// Writes (data or command) while DRR was set: lost.
    pub overruns: u64,
    /// Data bytes written outside UART mode: not MIDI, not sent.
    pub stray_data: u64,
    /// Commands written in UART mode other than 0xFF: ignored.
    pub ignored_commands: u64,
    /// Input bytes dropped because the input FIFO was full.
    pub input_overruns: u64,
    /// Accesses outside the card's two registers.
    pub bad_offsets: u64,
}

/// Told, for each byte the card accepts for its MIDI OUT while the cable is connected, the time
/// that byte becomes readable at MIDI IN (100 ns units). Called after the card's state is
/// updated and its lock released, from whatever context wrote the byte (a render DPC, at
/// DISPATCH_LEVEL): it must not block.
pub(crate) type CableListener = Arc<dyn Fn(i64) + Send + Sync>;

/// The cable from MIDI OUT to MIDI IN.
struct Cable {
    /// Bytes on the cable, with the time each arrives (its start bit + one byte time), in
    /// order.
    in_flight: VecDeque<(i64, u8)>,
    listener: Option<CableListener>,
}

struct Card {
    config: EmulatorConfig,
    mode: Mode,
    /// Bytes waiting for the transmitter, with the time each will start (strictly after the
    /// last update's present).
    output: VecDeque<WireByte>,
    /// When the transmitter finishes the last byte given to it.
    transmitter_free_at: i64,
    wire: Vec<WireByte>,
    /// Input bytes and the time each becomes readable (non-decreasing).
    input: VecDeque<(i64, u8)>,
    /// Bytes a test scheduled on MIDI IN ([`Mpu401Emulator::push_input_at`]), with their
    /// arrival times (non-decreasing): they reach `input` when their time comes, so that a
    /// reset meanwhile does not drop bytes that had not arrived yet.
    incoming: VecDeque<(i64, u8)>,
    commands: Vec<u8>,
    stats: EmulatorStats,
    cable: Option<Cable>,
}

impl Card {
    /// Moves the bytes whose start time has come onto the wire, and the cable's bytes that
    /// have arrived into the input FIFO.
    fn update(&mut self, now: i64) {
        while let Some(&next) = self.output.front()
            && next.time_100ns <= now
        {
            self.output.pop_front();
            self.put_on_wire(next);
        }
        while let Some(cable) = self.cable.as_mut()
            && let Some(&(at, byte)) = cable.in_flight.front()
            && at <= now
        {
            cable.in_flight.pop_front();
            self.arrive(at, byte);
        }
        while let Some(&(at, byte)) = self.incoming.front()
            && at <= now
        {
            self.incoming.pop_front();
            self.arrive(at, byte);
        }
    }

    /// A byte off the cable reaches the input FIFO at `at`: readable from then on, before
    /// anything queued for later (a command's acknowledgement).
    fn arrive(&mut self, at: i64, byte: u8) {
        if self.input.len() >= self.config.input_fifo_depth {
            self.stats.input_overruns += 1;
            return;
        }
        let after = self.input.iter().rposition(|&(t, _)| t <= at);
        self.input.insert(after.map_or(0, |i| i + 1), (at, byte));
    }

    /// A byte's start bit goes out: recorded, and sent down the cable if there is one.
    fn put_on_wire(&mut self, byte: WireByte) {
        self.wire.push(byte);
        if let Some(cable) = self.cable.as_mut() {
            let arrival = byte.time_100ns.saturating_add(BYTE_TIME_100NS);
            cable.in_flight.push_back((arrival, byte.byte));
        }
    }

    /// When the next byte to read is (or was) readable: the earlier of the input FIFO's head
    /// and (cable connected) the cable's next arrival: its first byte, else the first byte
    /// waiting to be transmitted, one byte time after its start.
    fn next_input_time(&self) -> Option<i64> {
        let queued = match (
            self.input.front().map(|&(at, _)| at),
            self.incoming.front().map(|&(at, _)| at),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(cable) = self.cable.as_ref() else {
            return queued;
        };
        // The cable's next byte may arrive before a byte queued for later (an
        // acknowledgement); the output FIFO's bytes arrive after the cable's.
        let coming = cable.in_flight.front().map(|&(at, _)| at).or_else(|| {
            self.output
                .front()
                .map(|w| w.time_100ns.saturating_add(BYTE_TIME_100NS))
        });
        match (queued, coming) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn output_ready(&self) -> bool {
        !self.config.never_ready && self.output.len() < self.config.output_fifo_depth.max(1)
    }

    fn input_ready(&self, now: i64) -> bool {
        self.input.front().is_some_and(|&(t, _)| t <= now)
    }

    fn status(&self, now: i64) -> u8 {
        let mut status = 0x3F;
        if !self.output_ready() {
            status |= STATUS_DRR;
        }
        if !self.input_ready(now) {
            status |= STATUS_DSR;
        }
        status
    }

    fn period(&self) -> i64 {
        BYTE_TIME_100NS * i64::from(self.config.slowdown.max(1))
    }

    /// Gives `byte` to the transmitter; returns the time its start bit goes out.
    fn transmit(&mut self, now: i64, byte: u8) -> i64 {
        let period = self.period();
        let start = now.max(self.transmitter_free_at);
        self.transmitter_free_at = start + period;
        let wire_byte = WireByte {
            time_100ns: start,
            byte,
        };
        if start <= now {
            self.put_on_wire(wire_byte);
        } else {
            self.output.push_back(wire_byte);
        }
        start
    }

    fn push_input(&mut self, at: i64, byte: u8) {
        if self.input.len() >= self.config.input_fifo_depth {
            self.stats.input_overruns += 1;
            return;
        }
        let at = self.input.back().map_or(at, |&(last, _)| at.max(last));
        self.input.push_back((at, byte));
    }

    fn acknowledge(&mut self, now: i64) {
        if !self.config.never_acknowledges {
            let at = now.saturating_add(self.config.ack_delay_100ns);
            self.input.push_back((at, ACK));
        }
    }

    fn command(&mut self, now: i64, command: u8) {
        match (self.mode, command) {
            (mode, CMD_RESET) => {
                self.mode = Mode::Intelligent;
                // The byte being transmitted finishes; the waiting ones are gone.
                self.output.clear();
                let period = self.period();
                self.transmitter_free_at =
                    self.wire.last().map_or(i64::MIN, |w| w.time_100ns + period);
                // What the input FIFO holds is gone (pending acknowledgements too); bytes
                // still on their way from MIDI IN (`incoming`) arrive all the same.
                self.input.clear();
                if mode == Mode::Intelligent || self.config.acks_reset_in_uart_mode {
                    self.acknowledge(now);
                }
            }
            (Mode::Intelligent, CMD_UART_MODE) => {
                self.mode = Mode::Uart;
                if self.config.acks_uart_mode {
                    self.acknowledge(now);
                }
            }
            (Mode::Intelligent, _) => self.acknowledge(now),
            (Mode::Uart, _) => self.stats.ignored_commands += 1,
        }
    }
}

/// A handle to an emulated MPU-401 card; clones share the card.
#[derive(Clone)]
pub struct Mpu401Emulator {
    card: Arc<Mutex<Card>>,
    machine: Machine,
}

impl core::fmt::Debug for Mpu401Emulator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let card = self.lock();
        f.debug_struct("Mpu401Emulator")
            .field("config", &card.config)
            .field("mode", &card.mode)
            .field("stats", &card.stats)
            .finish_non_exhaustive()
    }
}

impl Mpu401Emulator {
    /// A card on the calling thread's machine (whose clock it follows).
    pub fn new(config: EmulatorConfig) -> Self {
        let mode = if config.start_in_uart_mode {
            Mode::Uart
        } else {
            Mode::Intelligent
        };
        Mpu401Emulator {
            card: Arc::new(Mutex::new(Card {
                config,
                mode,
                output: VecDeque::new(),
                transmitter_free_at: i64::MIN,
                wire: Vec::new(),
                input: VecDeque::new(),
                incoming: VecDeque::new(),
                commands: Vec::new(),
                stats: EmulatorStats::default(),
                cable: None,
            })),
            machine: Machine::current(),
        }
    }

    /// The card, brought up to the present; and the present.
    fn lock(&self) -> MutexGuard<'_, Card> {
        self.lock_at().0
    }

    fn lock_at(&self) -> (MutexGuard<'_, Card>, i64) {
        let now = self.machine.now_100ns();
        // A test that panicked while holding the lock leaves valid state behind.
        let mut card = self.card.lock().unwrap_or_else(|e| e.into_inner());
        card.update(now);
        (card, now)
    }

    /// The bytes that have gone onto the wire so far, in order, with their times.
    pub fn wire(&self) -> Vec<WireByte> {
        self.lock().wire.clone()
    }

    /// [`Mpu401Emulator::wire`] without the times.
    pub fn wire_bytes(&self) -> Vec<u8> {
        self.lock().wire.iter().map(|w| w.byte).collect()
    }

    /// Bytes waiting in the output FIFO.
    pub fn output_fifo_len(&self) -> usize {
        self.lock().output.len()
    }

    /// `bytes` arrive from the wire now, readable at once.
    pub fn push_input(&self, bytes: &[u8]) {
        let (mut card, now) = self.lock_at();
        for &b in bytes {
            card.push_input(now, b);
        }
    }

    /// `bytes` arrive from the wire at `time_100ns`, one byte time apart (as a sender at the
    /// wire rate delivers them). Times never go back before input already scheduled. Each
    /// reaches the input FIFO at its time (dropped then if the FIFO is full); a reset before
    /// that time does not drop it.
    pub fn push_input_at(&self, time_100ns: i64, bytes: &[u8]) {
        let (mut card, now) = self.lock_at();
        let mut at = time_100ns;
        for &b in bytes {
            let at_or_after = card.incoming.back().map_or(at, |&(last, _)| at.max(last));
            card.incoming.push_back((at_or_after, b));
            at = at.saturating_add(BYTE_TIME_100NS);
        }
        card.update(now);
    }

    /// Every byte written to the command register, in order.
    pub fn commands(&self) -> Vec<u8> {
        self.lock().commands.clone()
    }

    /// The card's mode.
    pub fn mode(&self) -> Mode {
        self.lock().mode
    }

    /// The card's counters.
    pub fn stats(&self) -> EmulatorStats {
        self.lock().stats
    }

    /// Makes the card stop taking bytes (DRR stuck set) or recover.
    pub fn set_never_ready(&self, never_ready: bool) {
        self.lock().config.never_ready = never_ready;
    }

    /// Plugs a MIDI cable from the card's MIDI OUT into its own MIDI IN (see the module
    /// documentation), replacing an earlier one (whose bytes in flight are lost with it).
    /// `listener`, if any, is told each accepted byte's arrival time.
    pub fn connect_cable(&self, listener: Option<CableListener>) {
        let old = self.lock().cable.replace(Cable {
            in_flight: VecDeque::new(),
            listener,
        });
        // As in `disconnect_cable`: the old listener is dropped after the card's lock.
        drop(old);
    }

    /// Unplugs the cable: bytes on it are lost, the listener is dropped.
    pub fn disconnect_cable(&self) {
        let cable = self.lock().cable.take();
        // The listener may own things whose drop takes other locks: not under the card's.
        drop(cable);
    }

    /// Whether the cable is plugged in.
    pub fn cable_connected(&self) -> bool {
        self.lock().cable.is_some()
    }

    /// Bytes on the cable now (on the wire, not yet arrived).
    pub fn cable_in_flight(&self) -> usize {
        self.lock().cable.as_ref().map_or(0, |c| c.in_flight.len())
    }

    /// When the oldest byte not yet read from the data port becomes readable, in 100 ns
    /// units: at or before now if one is waiting, `None` if no byte is waiting or on its way
    /// (on the cable, or in the output FIFO while the cable is connected). For the host side
    /// of the cable, which raises the card's interrupt at that time.
    pub fn next_input_time(&self) -> Option<i64> {
        self.lock().next_input_time()
    }
}

impl PortIo for Mpu401Emulator {
    fn read(&self, offset: u16) -> u8 {
        let (mut card, now) = self.lock_at();
        match offset {
            STATUS => {
                card.stats.status_reads += 1;
                card.status(now)
            }
            DATA => {
                card.stats.data_reads += 1;
                if card.input_ready(now) {
                    card.input.pop_front().map_or(0xFF, |(_, b)| b)
                } else {
                    card.stats.empty_reads += 1;
                    0xFF
                }
            }
            _ => {
                card.stats.bad_offsets += 1;
                0xFF
            }
        }
    }

    fn write(&self, offset: u16, value: u8) {
        let (mut card, now) = self.lock_at();
        if offset != DATA && offset != COMMAND {
            card.stats.bad_offsets += 1;
            return;
        }
        if offset == COMMAND {
            card.commands.push(value);
        }
        if !card.output_ready() {
            card.stats.overruns += 1;
            return;
        }
        match (offset, card.mode) {
            (COMMAND, _) => card.command(now, value),
            (_, Mode::Uart) => {
                let start = card.transmit(now, value);
                let listener = card.cable.as_ref().and_then(|c| c.listener.clone());
                drop(card);
                if let Some(listener) = listener {
                    listener(start.saturating_add(BYTE_TIME_100NS));
                }
            }
            (_, Mode::Intelligent) => card.stats.stray_data += 1,
        }
    }
}
