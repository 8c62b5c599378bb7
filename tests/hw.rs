//! Host tests of `dmus_miniport::hw`: the MPU-401 driven through the register-level emulator
//! (reset handshake, wire order and timing, back-pressure, a card that stops answering, input),
//! the loopback cable, and `kernel::time::stall_us`. All timing is on each test thread's
//! virtual clock: exact, never wall-clock.

use std::ffi::c_void;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use dmus_miniport::abi::{
    STATUS_DEVICE_NOT_CONNECTED, STATUS_DEVICE_NOT_READY, STATUS_INVALID_DEVICE_STATE,
    STATUS_IO_TIMEOUT,
};
use dmus_miniport::hw::mpu401::{
    ACK_POLLS, NOT_RESPONDING_AFTER_100NS, READY_POLLS, RESET_ACK_POLLS, RESET_MAX_STALL_US,
    STALL_STEP_US,
};
use dmus_miniport::hw::{
    DeviceError, DeviceStats, LOOPBACK_TAG, Loopback, MAX_LOOPBACK_CAPACITY, MidiDevice, Mpu401,
    PortIo, ReceiveHook, Sent, Synchronize,
};
use dmus_miniport::kernel::time::{self, MAX_STALL_AT_DISPATCH_US};
use dmus_miniport::kernel::{DISPATCH_LEVEL, Timer, irql};
use dmus_miniport::sim::emulator::{
    BYTE_TIME_100NS, EmulatorConfig, EmulatorStats, Mode, Mpu401Emulator, WireByte,
};
use dmus_miniport::sim::host::{self, Violation};

/// 100 ns units per microsecond.
const TICKS_PER_US: i64 = 10;
const TICKS_PER_MS: i64 = 10_000;

fn card(config: EmulatorConfig) -> (Mpu401Emulator, Mpu401<Mpu401Emulator>) {
    let emu = Mpu401Emulator::new(config);
    (emu.clone(), Mpu401::new(emu))
}

/// A fresh card with `config`, reset at once: the card, the device, the reset's answer and the
/// (virtual) time it took.
fn timed_reset(
    config: EmulatorConfig,
) -> (
    Mpu401Emulator,
    Mpu401<Mpu401Emulator>,
    Result<(), DeviceError>,
    i64,
) {
    let (emu, dev) = card(config);
    let t0 = time::now_100ns();
    let result = dev.reset();
    (emu, dev, result, time::now_100ns() - t0)
}

/// A reset card with the default configuration (16-byte FIFO).
fn ready_card() -> (Mpu401Emulator, Mpu401<Mpu401Emulator>) {
    ready_card_with(EmulatorConfig::default())
}

fn ready_card_with(config: EmulatorConfig) -> (Mpu401Emulator, Mpu401<Mpu401Emulator>) {
    let (emu, dev) = card(config);
    assert_eq!(dev.reset(), Ok(()));
    (emu, dev)
}

/// What a correct driver never makes a card count.
fn assert_clean(emu: &Mpu401Emulator) {
    let s = emu.stats();
    assert_eq!(
        (
            s.empty_reads,
            s.overruns,
            s.stray_data,
            s.ignored_commands,
            s.bad_offsets
        ),
        (0, 0, 0, 0, 0),
        "{s:?}"
    );
    assert!(host::take_violations().is_empty());
}

/// `n` wire bytes spaced `spacing` apart from `t0`.
fn expected_wire(t0: i64, spacing: i64, bytes: &[u8]) -> Vec<WireByte> {
    bytes
        .iter()
        .zip(0..)
        .map(|(&byte, i)| WireByte {
            time_100ns: t0 + i * spacing,
            byte,
        })
        .collect()
}

// ---- stall_us ----

/// What a timer's callback saw: how often it ran, and the time and IRQL of its last run.
#[derive(Default)]
struct Fired {
    count: AtomicUsize,
    at: AtomicI64,
    irql: AtomicU8,
}

impl Fired {
    fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// The time and IRQL of the last run.
    fn last(&self) -> (i64, u8) {
        (
            self.at.load(Ordering::Relaxed),
            self.irql.load(Ordering::Relaxed),
        )
    }
}

unsafe fn count_fired(context: *mut c_void) {
    // SAFETY: the test passes a `Fired` that outlives the timer.
    let fired = unsafe { &*(context as *const Fired) };
    fired.count.fetch_add(1, Ordering::Relaxed);
    fired.at.store(time::now_100ns(), Ordering::Relaxed);
    fired.irql.store(irql::current(), Ordering::Relaxed);
}

/// A timer whose callback records into `fired`. The caller drops the timer (at PASSIVE_LEVEL)
/// before `fired`.
fn counting_timer(fired: &Fired) -> core::pin::Pin<Box<Timer>> {
    let timer = Box::pin(Timer::new());
    // SAFETY: `count_fired` only touches `fired`, which the caller keeps alive longer than the
    // timer.
    assert!(unsafe {
        timer
            .as_ref()
            .init(count_fired, fired as *const Fired as *mut c_void)
    });
    timer
}

/// With concurrent stalls on (a PASSIVE_LEVEL busy wait is preempted by the DPCs due meanwhile,
/// or they run on another processor), a timer due inside a PASSIVE_LEVEL stall fires at its
/// due time, at DISPATCH_LEVEL; at DISPATCH_LEVEL a stall still runs none.
#[test]
fn a_passive_stall_runs_the_timers_due_meanwhile_when_stalls_are_concurrent() {
    dmus_miniport::sim::host::ideal_clock();
    host::machine().set_concurrent_stalls(true);
    let fired = Fired::default();
    let timer = counting_timer(&fired);
    let t0 = time::now_100ns();
    timer.arm(10 * TICKS_PER_US);
    time::stall_us(37);
    assert_eq!(time::now_100ns(), t0 + 370);
    assert_eq!(host::machine().stalled_100ns(), 370);
    assert_eq!(fired.count(), 1, "fired during the stall");
    assert_eq!(
        fired.last(),
        (t0 + 10 * TICKS_PER_US, DISPATCH_LEVEL),
        "at its due time, at DISPATCH_LEVEL"
    );
    timer.arm(10 * TICKS_PER_US);
    {
        let _dpc = host::raise_irql(DISPATCH_LEVEL);
        time::stall_us(37);
    }
    assert_eq!(fired.count(), 1, "not at DISPATCH_LEVEL");
    assert_eq!(host::advance(0), 1);
    drop(timer);
    assert!(host::take_violations().is_empty());
}

#[test]
fn stall_moves_the_virtual_clock_and_runs_no_timer() {
    // Timing logic on the ideal clock: the timer fires at its due time.
    dmus_miniport::sim::host::ideal_clock();
    let fired = Fired::default();
    let timer = counting_timer(&fired);
    let t0 = time::now_100ns();
    timer.arm(10 * TICKS_PER_US);
    time::stall_us(37);
    assert_eq!(time::now_100ns(), t0 + 370);
    assert_eq!(host::machine().stalled_100ns(), 370);
    assert_eq!(fired.count(), 0, "the stalling CPU runs no DPC");
    assert_eq!(host::advance(0), 1, "the late timer fires at the next run");
    assert_eq!(fired.count(), 1);
    assert_eq!(time::now_100ns(), t0 + 370);
    drop(timer);
    assert!(host::take_violations().is_empty());
}

#[test]
fn stall_over_the_cap_at_dispatch_is_cut_and_recorded() {
    let t0 = time::now_100ns();
    time::stall_us(500); // PASSIVE_LEVEL: the argument is the bound
    assert_eq!(time::now_100ns(), t0 + 500 * TICKS_PER_US);
    assert!(host::take_violations().is_empty());
    {
        let _dpc = host::raise_irql(DISPATCH_LEVEL);
        time::stall_us(MAX_STALL_AT_DISPATCH_US);
        assert!(host::take_violations().is_empty());
        time::stall_us(500);
    }
    assert_eq!(
        time::now_100ns(),
        t0 + (500 + 2 * i64::from(MAX_STALL_AT_DISPATCH_US)) * TICKS_PER_US
    );
    assert_eq!(
        host::take_violations(),
        [Violation::LongStallAtDispatch {
            irql: DISPATCH_LEVEL,
            us: 500
        }]
    );
}

// ---- MPU-401 reset ----

#[test]
fn reset_handshake_enters_uart_mode() {
    let (emu, dev) = card(EmulatorConfig::default());
    assert!(!dev.is_uart_mode());
    assert_eq!(emu.mode(), Mode::Intelligent);
    let t0 = time::now_100ns();
    assert_eq!(dev.reset(), Ok(()));
    assert_eq!(emu.commands(), [0xFF, 0x3F]);
    assert_eq!(emu.mode(), Mode::Uart);
    assert!(dev.is_uart_mode());
    // Each acknowledgement comes 20 us after its command; polling sees it on the 10 us step.
    assert_eq!(time::now_100ns() - t0, 2 * 20 * TICKS_PER_US);
    assert_eq!(dev.stats().resets, 1);
    assert_eq!(dev.stats().reset_failures, 0);
    assert_clean(&emu);
}

/// Registers whose every status read first lets "the ISR" run: the card interrupts when it has a
/// byte, and the interrupt may take the acknowledgement before the reset's own poll reads it
/// (what happens on return to D0 with the interrupt connected).
struct IsrFirst {
    emu: Mpu401Emulator,
    device: std::sync::OnceLock<std::sync::Weak<Mpu401<IsrFirst>>>,
    in_isr: std::sync::atomic::AtomicBool,
    taken: std::sync::Mutex<Vec<u8>>,
}

impl PortIo for IsrFirst {
    fn read(&self, offset: u16) -> u8 {
        if offset == 1 && !self.in_isr.swap(true, Ordering::SeqCst) {
            if let Some(dev) = self.device.get().and_then(std::sync::Weak::upgrade) {
                while let Some(b) = dev.try_receive() {
                    self.taken.lock().unwrap().push(b);
                }
            }
            self.in_isr.store(false, Ordering::SeqCst);
        }
        self.emu.read(offset)
    }

    fn write(&self, offset: u16, value: u8) {
        self.emu.write(offset, value)
    }
}

#[test]
fn a_reset_whose_acknowledgement_the_isr_takes_still_succeeds() {
    let emu = Mpu401Emulator::new(EmulatorConfig::default());
    let dev = Arc::new(Mpu401::new(IsrFirst {
        emu: emu.clone(),
        device: std::sync::OnceLock::new(),
        in_isr: std::sync::atomic::AtomicBool::new(false),
        taken: std::sync::Mutex::new(Vec::new()),
    }));
    dev.port().device.set(Arc::downgrade(&dev)).unwrap();
    assert_eq!(dev.reset(), Ok(()));
    assert!(dev.is_uart_mode());
    assert_eq!(emu.commands(), [0xFF, 0x3F]);
    // The ISR read both acknowledgements and handed them to the reset: none reached it as MIDI.
    assert_eq!(*dev.port().taken.lock().unwrap(), Vec::<u8>::new());
    // In UART mode 0xFE is MIDI again (Active Sensing), and the ISR gets it.
    emu.push_input(&[0xFE]);
    assert_eq!(dev.try_receive(), None, "the ISR read it first");
    assert_eq!(*dev.port().taken.lock().unwrap(), [0xFE]);
}

/// Registers on which "the ISR" runs at the worst place of a reset's poll: before every
/// data-port read, so after the poll's status read has seen a byte waiting; and, with the
/// machine's concurrent stalls, from an interrupt line (a timer) every 100 us while the reset
/// stalls. An interrupt can come between any two register accesses of a PASSIVE_LEVEL reset;
/// only the steps run through [`IsrLock`] (CallSynchronizedRoutine's model: the ISR cannot
/// run during them) are safe from it. What the ISR gets as MIDI is recorded.
struct IsrBetween {
    emu: Mpu401Emulator,
    device: std::sync::OnceLock<std::sync::Weak<Mpu401<IsrBetween>>>,
    in_step: std::sync::atomic::AtomicBool,
    in_isr: std::sync::atomic::AtomicBool,
    midi: Mutex<Vec<u8>>,
    interrupts: AtomicUsize,
    line: Timer,
}

/// The interrupt line's timer: the ISR, then again 100 us later.
///
/// # Safety
/// `context` is the live IsrBetween whose `line` this is (it shuts the timer down before it
/// goes).
unsafe fn interrupt_line(context: *mut c_void) {
    // SAFETY: the function's contract.
    let regs = unsafe { &*(context as *const IsrBetween) };
    regs.isr();
    regs.line.arm(100 * TICKS_PER_US);
}

impl IsrBetween {
    /// The ISR body: reads what the card has, as the miniport's ISR does.
    fn isr(&self) {
        if self.in_isr.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(dev) = self.device.get().and_then(std::sync::Weak::upgrade) {
            self.interrupts.fetch_add(1, Ordering::SeqCst);
            while let Some(b) = dev.try_receive() {
                self.midi.lock().unwrap().push(b);
            }
        }
        self.in_isr.store(false, Ordering::SeqCst);
    }
}

impl PortIo for IsrBetween {
    fn read(&self, offset: u16) -> u8 {
        if offset == 0 && !self.in_step.load(Ordering::SeqCst) {
            self.isr();
        }
        self.emu.read(offset)
    }

    fn write(&self, offset: u16, value: u8) {
        self.emu.write(offset, value)
    }
}

/// CallSynchronizedRoutine's model for [`IsrBetween`]: the ISR does not run during a step.
struct IsrLock<'a>(&'a IsrBetween);

impl Synchronize for IsrLock<'_> {
    fn synchronized(&self, step: &mut dyn FnMut()) {
        self.0.in_step.store(true, Ordering::SeqCst);
        step();
        self.0.in_step.store(false, Ordering::SeqCst);
    }
}

/// The D0 re-initialisation of a card in UART mode (its first reset unacknowledged, as after a
/// power cycle that kept its state) with MIDI IN arriving in the middle of it, twice: during the
/// silent reset's 50 ms wait, and between the second reset and its (slow, 5 ms) acknowledgement;
/// the ISR strikes between each poll's status read and its data read. The reset's steps run
/// synchronized with the ISR, so: no poll reads an empty port, the injected bytes are read
/// (by the ISR or the reset) and dropped, counted, none reaches capture as MIDI or passes for an
/// acknowledgement (the reset waits for the card's own, both, and no 0xFE is left over), and
/// input after the re-initialisation is MIDI again, intact.
#[test]
fn input_during_a_synchronized_reset_is_dropped_and_counted_never_midi_nor_an_acknowledgement() {
    let ack = 5 * TICKS_PER_MS;
    let emu = Mpu401Emulator::new(EmulatorConfig {
        ack_delay_100ns: ack,
        ..EmulatorConfig::default()
    });
    let dev = Arc::new(Mpu401::new(IsrBetween {
        emu: emu.clone(),
        device: std::sync::OnceLock::new(),
        in_step: std::sync::atomic::AtomicBool::new(false),
        in_isr: std::sync::atomic::AtomicBool::new(false),
        midi: Mutex::new(Vec::new()),
        interrupts: AtomicUsize::new(0),
        line: Timer::new(),
    }));
    dev.port().device.set(Arc::downgrade(&dev)).unwrap();
    let regs: &IsrBetween = dev.port();
    // SAFETY: `regs` lives in the Arc (never moves) until the end of the test, after the
    // timer's shutdown below.
    assert!(unsafe {
        core::pin::Pin::new_unchecked(&regs.line)
            .init(interrupt_line, regs as *const IsrBetween as *mut c_void)
    });
    let lock = IsrLock(regs);
    // Init's reset (the ISR not yet in the way of anything: the card is quiet).
    assert_eq!(dev.reset_synchronized(&lock), Ok(()));
    assert_eq!(emu.commands(), [0xFF, 0x3F]);

    // D0: the card is in UART mode and resets silently; the retry, after the 50 ms wait, is
    // acknowledged 5 ms later. The interrupt line runs throughout (the DPCs and interrupts
    // due during the reset's stalls run meanwhile, as on a real machine).
    host::machine().set_concurrent_stalls(true);
    regs.line.arm(100 * TICKS_PER_US);
    let t0 = time::now_100ns();
    let silent = i64::from(RESET_ACK_POLLS * STALL_STEP_US) * TICKS_PER_US;
    emu.push_input_at(t0 + 10 * TICKS_PER_MS, &[0x90, 0x3C, 0x64]);
    emu.push_input_at(t0 + silent + 2 * TICKS_PER_MS, &[0xB0, 0x07]);
    assert_eq!(dev.reset_synchronized(&lock), Ok(()));
    let elapsed = time::now_100ns() - t0;
    assert_eq!(emu.commands(), [0xFF, 0x3F, 0xFF, 0xFF, 0x3F]);
    assert!(
        elapsed >= silent + 2 * ack,
        "both acknowledgements awaited: {elapsed}"
    );
    assert!(elapsed <= i64::from(RESET_MAX_STALL_US) * TICKS_PER_US);
    assert!(
        dev.port().interrupts.load(Ordering::SeqCst) > 0,
        "the ISR ran during the reset"
    );
    assert_eq!(
        *dev.port().midi.lock().unwrap(),
        Vec::<u8>::new(),
        "no MIDI yet"
    );
    let stats = dev.stats();
    assert_eq!(
        stats.input_dropped, 5,
        "every injected byte dropped, counted: {stats:?}"
    );
    assert_eq!(
        stats.uart_mode_unacknowledged, 0,
        "0x3F's own 0xFE was awaited"
    );
    assert_eq!(emu.stats().empty_reads, 0, "no poll split by the ISR");

    // Afterwards: nothing left over (no stray 0xFE), and MIDI IN is MIDI again.
    host::advance(100 * TICKS_PER_MS);
    assert_eq!(
        *regs.midi.lock().unwrap(),
        Vec::<u8>::new(),
        "no stray 0xFE"
    );
    emu.push_input(&[0x90, 0x40, 0x50, 0xFE]);
    host::advance(TICKS_PER_MS);
    assert_eq!(*regs.midi.lock().unwrap(), [0x90, 0x40, 0x50, 0xFE]);
    assert_eq!(dev.stats().input_dropped, 5);
    regs.line.shutdown();
    assert_clean(&emu);
}

#[test]
fn reset_of_a_card_already_in_uart_mode_retries_once() {
    let config = EmulatorConfig {
        start_in_uart_mode: true,
        ..EmulatorConfig::default()
    };
    let (emu, _dev, result, elapsed) = timed_reset(config);
    assert_eq!(result, Ok(()));
    assert_eq!(
        emu.commands(),
        [0xFF, 0xFF, 0x3F],
        "the silent reset was retried"
    );
    assert_eq!(emu.mode(), Mode::Uart);
    let unanswered = i64::from(RESET_ACK_POLLS * STALL_STEP_US) * TICKS_PER_US;
    assert_eq!(elapsed, unanswered + 2 * 20 * TICKS_PER_US);
    assert_clean(&emu);

    // A card that does acknowledge in UART mode needs no retry.
    let config = EmulatorConfig {
        start_in_uart_mode: true,
        acks_reset_in_uart_mode: true,
        ..EmulatorConfig::default()
    };
    let (emu, dev) = card(config);
    assert_eq!(dev.reset(), Ok(()));
    assert_eq!(emu.commands(), [0xFF, 0x3F]);
}

#[test]
fn reset_without_acknowledgement_fails_within_the_bound() {
    let config = EmulatorConfig {
        never_acknowledges: true,
        ..EmulatorConfig::default()
    };
    let (emu, dev, result, elapsed) = timed_reset(config);
    assert_eq!(result, Err(DeviceError::NoAcknowledge));
    assert_eq!(
        emu.commands(),
        [0xFF, 0xFF],
        "reset tried twice, UART mode never"
    );
    assert_eq!(
        elapsed,
        2 * i64::from(RESET_ACK_POLLS * STALL_STEP_US) * TICKS_PER_US
    );
    assert!(elapsed <= i64::from(RESET_MAX_STALL_US) * TICKS_PER_US);
    assert_eq!(host::machine().stalled_100ns(), elapsed, "all of it stalls");
    assert!(!dev.is_uart_mode());
    assert_eq!(dev.stats().reset_failures, 1);
    // Nothing is written to a card that was not reset.
    assert_eq!(dev.try_send(0x90), Err(DeviceError::NotReset));
    assert!(!dev.can_send());
    assert_eq!(dev.stats().not_reset, 1);
    assert_clean(&emu);
}

#[test]
fn reset_acknowledgement_just_inside_the_bound_works_and_just_outside_fails() {
    let ack_budget = i64::from(RESET_ACK_POLLS * STALL_STEP_US) * TICKS_PER_US;
    let inside = EmulatorConfig {
        ack_delay_100ns: ack_budget,
        ..EmulatorConfig::default()
    };
    let (emu, dev) = card(inside);
    assert_eq!(dev.reset(), Ok(()));
    assert_eq!(emu.commands(), [0xFF, 0x3F]);

    let outside = EmulatorConfig {
        ack_delay_100ns: ack_budget + 1,
        ..EmulatorConfig::default()
    };
    let (emu, _dev, result, elapsed) = timed_reset(outside);
    assert_eq!(result, Err(DeviceError::NoAcknowledge));
    assert!(elapsed <= i64::from(RESET_MAX_STALL_US) * TICKS_PER_US);
    // The second reset drops the first one's late acknowledgement: no stale 0xFE confirms it.
    assert_eq!(emu.commands(), [0xFF, 0xFF]);
}

#[test]
fn reset_of_a_never_ready_card_reports_not_responding_without_writing() {
    let config = EmulatorConfig {
        never_ready: true,
        ..EmulatorConfig::default()
    };
    let (emu, _dev, result, elapsed) = timed_reset(config);
    assert_eq!(result, Err(DeviceError::NotResponding));
    assert!(emu.commands().is_empty());
    assert_eq!(
        elapsed,
        2 * i64::from(READY_POLLS * STALL_STEP_US) * TICKS_PER_US
    );
    assert_clean(&emu);
}

#[test]
fn reset_is_refused_above_passive() {
    let (emu, dev) = card(EmulatorConfig::default());
    let t0 = time::now_100ns();
    {
        let _dpc = host::raise_irql(DISPATCH_LEVEL);
        assert_eq!(dev.reset(), Err(DeviceError::WrongIrql));
    }
    assert_eq!(time::now_100ns(), t0, "no stall at DISPATCH_LEVEL");
    assert!(emu.commands().is_empty());
    assert_eq!(dev.stats().reset_failures, 1);
    assert_clean(&emu);
}

#[test]
fn reset_after_a_burst_waits_one_byte_time_and_drops_the_waiting_bytes() {
    let (emu, dev) = ready_card();
    let t0 = time::now_100ns();
    let mut sent = 0;
    while dev.try_send(0x80 | (sent & 0x0F)) == Ok(Sent::Accepted) {
        sent += 1;
    }
    assert_eq!(sent, 17, "16 in the FIFO, 1 on the wire");
    assert_eq!(dev.reset(), Ok(()));
    // The second byte started at t0 + 320 us, which freed a place for the reset command; the
    // card, in UART mode, reset silently and acknowledged the retry.
    assert_eq!(emu.commands(), [0xFF, 0x3F, 0xFF, 0xFF, 0x3F]);
    let unanswered = i64::from(RESET_ACK_POLLS * STALL_STEP_US) * TICKS_PER_US;
    assert_eq!(
        time::now_100ns() - t0,
        BYTE_TIME_100NS + unanswered + 2 * 20 * TICKS_PER_US
    );
    // The byte on the wire during the reset finished long before it ended (50 ms): the next
    // one goes out at once.
    let after = time::now_100ns();
    assert_eq!(dev.try_send(0xF8), Ok(Sent::Accepted));
    host::advance(100 * BYTE_TIME_100NS);
    let wire = emu.wire();
    assert_eq!(
        wire[..2],
        expected_wire(t0, BYTE_TIME_100NS, &[0x80, 0x81])[..],
        "the FIFO's bytes were dropped"
    );
    assert_eq!(wire.len(), 3);
    assert_eq!(wire[2].byte, 0xF8);
    assert!(
        (after..after + BYTE_TIME_100NS).contains(&wire[2].time_100ns),
        "{wire:?}"
    );
    assert_clean(&emu);
}

// ---- MPU-401 output ----

#[test]
fn send_before_reset_writes_nothing() {
    let (emu, dev) = card(EmulatorConfig::default());
    assert_eq!(dev.try_send(0x90), Err(DeviceError::NotReset));
    host::advance(BYTE_TIME_100NS * 10);
    assert!(emu.wire().is_empty());
    assert_eq!(emu.stats().data_reads + emu.stats().status_reads, 0);
    assert_clean(&emu);
}

#[test]
fn bytes_reach_the_wire_in_order_at_3125_bytes_per_second() {
    let (emu, dev) = ready_card();
    let t0 = time::now_100ns();
    let stalled = host::machine().stalled_100ns();
    let message: Vec<u8> = (0..17).map(|i| 0x40 + i).collect();
    for &b in &message {
        assert_eq!(dev.try_send(b), Ok(Sent::Accepted));
    }
    assert_eq!(dev.try_send(0x7F), Ok(Sent::Busy), "FIFO full");
    assert_eq!(time::now_100ns(), t0, "sending never stalls");
    assert_eq!(host::machine().stalled_100ns(), stalled);
    assert_eq!(
        emu.wire().len(),
        1,
        "only the first byte is on the wire yet"
    );
    assert_eq!(emu.output_fifo_len(), 16);

    host::advance(16 * BYTE_TIME_100NS - 1);
    assert_eq!(emu.wire().len(), 16, "a byte every 320 us");
    host::advance(1);
    assert_eq!(emu.wire(), expected_wire(t0, BYTE_TIME_100NS, &message));
    // 3125 bytes per second: 17 bytes take 16 byte times from first to last start.
    assert_eq!(16 * BYTE_TIME_100NS, 16 * time::TICKS_PER_SECOND / 3125);
    let stats = dev.stats();
    assert_eq!((stats.bytes_sent, stats.busy), (17, 1));
    assert_clean(&emu);
}

#[test]
fn busy_while_the_fifo_is_full_accepted_again_once_it_drains() {
    let (emu, dev) = ready_card();
    let t0 = time::now_100ns();
    for i in 0..17 {
        assert_eq!(dev.try_send(i), Ok(Sent::Accepted));
    }
    assert_eq!(dev.try_send(17), Ok(Sent::Busy));
    assert!(!dev.can_send());
    host::advance(BYTE_TIME_100NS - 1);
    assert_eq!(dev.try_send(17), Ok(Sent::Busy));
    host::advance(1); // byte 1 leaves the FIFO for the wire
    assert!(dev.can_send());
    assert_eq!(dev.try_send(17), Ok(Sent::Accepted));
    assert_eq!(dev.try_send(18), Ok(Sent::Busy));

    // A sender that retries every 100 us keeps the wire saturated: no gap, no loss.
    let mut next = 18u8;
    while next < 200 {
        match dev.try_send(next) {
            Ok(Sent::Accepted) => next += 1,
            Ok(Sent::Busy) => {
                host::advance(100 * TICKS_PER_US);
            }
            Err(e) => panic!("a draining card is never {e:?}"),
        }
    }
    host::advance(20 * BYTE_TIME_100NS);
    let all: Vec<u8> = (0..200).collect();
    assert_eq!(emu.wire(), expected_wire(t0, BYTE_TIME_100NS, &all));
    assert_eq!(dev.stats().not_responding, 0);
    assert_clean(&emu);
}

#[test]
fn a_slow_card_drains_at_a_fraction_of_the_rate() {
    let config = EmulatorConfig {
        output_fifo_depth: 2,
        slowdown: 4,
        ..EmulatorConfig::default()
    };
    let (emu, dev) = ready_card_with(config);
    let t0 = time::now_100ns();
    let bytes = [0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7];
    let mut i = 0;
    while i < bytes.len() {
        match dev.try_send(bytes[i]).unwrap() {
            Sent::Accepted => i += 1,
            Sent::Busy => {
                host::advance(BYTE_TIME_100NS);
            }
        }
    }
    host::advance(10 * 4 * BYTE_TIME_100NS);
    assert_eq!(emu.wire(), expected_wire(t0, 4 * BYTE_TIME_100NS, &bytes));
    assert_eq!(dev.stats().not_responding, 0);
    assert_clean(&emu);
}

#[test]
fn a_card_that_stops_answering_is_reported_after_the_limit_and_not_before() {
    let (emu, dev) = ready_card();
    assert_eq!(dev.try_send(0xFE), Ok(Sent::Accepted));
    emu.set_never_ready(true);
    let t0 = time::now_100ns();
    assert_eq!(
        dev.try_send(0x90),
        Ok(Sent::Busy),
        "first busy: the clock starts"
    );
    host::advance(NOT_RESPONDING_AFTER_100NS - 1);
    assert_eq!(dev.try_send(0x90), Ok(Sent::Busy));
    host::advance(1);
    assert_eq!(time::now_100ns() - t0, NOT_RESPONDING_AFTER_100NS);
    assert_eq!(dev.try_send(0x90), Err(DeviceError::NotResponding));
    assert_eq!(dev.try_send(0x90), Err(DeviceError::NotResponding));
    let stats = dev.stats();
    assert_eq!(
        (stats.bytes_sent, stats.busy, stats.not_responding),
        (1, 2, 2)
    );
    assert_eq!(
        host::machine().stalled_100ns(),
        400,
        "only the reset stalled"
    );

    // It recovers: the next accepted byte ends the busy spell, and a new one starts afresh.
    emu.set_never_ready(false);
    assert_eq!(dev.try_send(0x90), Ok(Sent::Accepted));
    emu.set_never_ready(true);
    host::advance(NOT_RESPONDING_AFTER_100NS / 2);
    assert_eq!(dev.try_send(0x40), Ok(Sent::Busy));
    host::advance(NOT_RESPONDING_AFTER_100NS - 1);
    assert_eq!(dev.try_send(0x40), Ok(Sent::Busy));
    assert_eq!(emu.wire_bytes(), [0xFE, 0x90]);
    assert_clean(&emu);
}

#[test]
fn a_reset_ends_a_busy_spell() {
    let (emu, dev) = ready_card();
    emu.set_never_ready(true);
    assert_eq!(dev.try_send(0x90), Ok(Sent::Busy));
    host::advance(NOT_RESPONDING_AFTER_100NS);
    assert_eq!(dev.try_send(0x90), Err(DeviceError::NotResponding));
    emu.set_never_ready(false);
    assert_eq!(dev.reset(), Ok(()));
    emu.set_never_ready(true);
    assert_eq!(dev.try_send(0x90), Ok(Sent::Busy));
    assert_clean(&emu);
}

// ---- MPU-401 input ----

#[test]
fn input_bytes_are_read_only_when_dsr_says_so() {
    let (emu, dev) = ready_card();
    assert!(!dev.has_input());
    assert_eq!(dev.try_receive(), None);
    emu.push_input(&[0x90, 0x3C, 0x64]);
    assert!(dev.has_input());
    assert_eq!(dev.try_receive(), Some(0x90));
    assert_eq!(dev.try_receive(), Some(0x3C));
    assert_eq!(dev.try_receive(), Some(0x64));
    assert_eq!(dev.try_receive(), None);

    // Bytes arriving later at the wire rate are readable from their arrival on.
    let t = time::now_100ns() + 1000;
    emu.push_input_at(t, &[0xB0, 0x07]);
    host::run_until(t - 1);
    assert_eq!(dev.try_receive(), None);
    host::run_until(t);
    assert_eq!(dev.try_receive(), Some(0xB0));
    assert_eq!(dev.try_receive(), None);
    host::advance(BYTE_TIME_100NS);
    assert_eq!(dev.try_receive(), Some(0x07));
    assert_eq!(dev.stats().bytes_received, 5);
    assert_eq!(
        emu.stats().data_reads,
        5 + 2,
        "5 bytes and the two acknowledgements"
    );
    assert_clean(&emu);
}

#[test]
fn input_overflow_is_counted_by_the_card() {
    let config = EmulatorConfig {
        input_fifo_depth: 4,
        ..EmulatorConfig::default()
    };
    let (emu, dev) = ready_card_with(config);
    emu.push_input(&[1, 2, 3, 4, 5, 6]);
    let received: Vec<u8> = std::iter::from_fn(|| dev.try_receive()).collect();
    assert_eq!(received, [1, 2, 3, 4]);
    assert_eq!(emu.stats().input_overruns, 2);
}

// ---- the MIDI cable from MIDI OUT to MIDI IN ----

/// A ready card with the cable plugged in; the listener's arrival times are recorded.
fn cabled_card(
    config: EmulatorConfig,
) -> (Mpu401Emulator, Mpu401<Mpu401Emulator>, Arc<Mutex<Vec<i64>>>) {
    let (emu, dev) = ready_card_with(config);
    let told = Arc::new(Mutex::new(Vec::new()));
    let record = told.clone();
    emu.connect_cable(Some(Arc::new(move |t| record.lock().unwrap().push(t))));
    (emu, dev, told)
}

#[test]
fn the_cable_delivers_each_byte_when_its_last_bit_has_arrived() {
    let (emu, dev, told) = cabled_card(EmulatorConfig::default());
    assert!(emu.cable_connected());
    assert_eq!(emu.next_input_time(), None, "nothing in flight");
    let t0 = time::now_100ns();
    for b in [0x90, 60, 100] {
        assert_eq!(dev.try_send(b), Ok(Sent::Accepted));
    }
    // Byte k starts at t0 + k byte times and is readable one byte time later.
    let arrival = |k: i64| t0 + (k + 1) * BYTE_TIME_100NS;
    assert_eq!(*told.lock().unwrap(), [arrival(0), arrival(1), arrival(2)]);
    assert_eq!(emu.next_input_time(), Some(arrival(0)));
    host::run_until(arrival(0) - 1);
    assert!(!dev.has_input(), "the last bit is not there yet");
    assert_eq!(emu.cable_in_flight(), 1);
    host::run_until(arrival(0));
    assert_eq!(
        emu.next_input_time(),
        Some(arrival(0)),
        "waiting to be read"
    );
    assert_eq!(dev.try_receive(), Some(0x90));
    assert_eq!(emu.next_input_time(), Some(arrival(1)));
    assert_eq!(dev.try_receive(), None);
    host::run_until(arrival(2));
    assert_eq!(dev.try_receive(), Some(60));
    assert_eq!(dev.try_receive(), Some(100));
    assert_eq!(emu.next_input_time(), None);
    assert_eq!(emu.wire_bytes(), [0x90, 60, 100]);
    assert_clean(&emu);
}

#[test]
fn a_slow_transmitter_spaces_the_bytes_but_each_still_takes_one_byte_time() {
    let (emu, dev, told) = cabled_card(EmulatorConfig {
        slowdown: 3,
        ..EmulatorConfig::default()
    });
    let t0 = time::now_100ns();
    for b in [0xC0, 5] {
        assert_eq!(dev.try_send(b), Ok(Sent::Accepted));
    }
    let want = [
        t0 + BYTE_TIME_100NS,
        t0 + 3 * BYTE_TIME_100NS + BYTE_TIME_100NS,
    ];
    assert_eq!(*told.lock().unwrap(), want);
    host::run_until(want[1]);
    assert_eq!(dev.try_receive(), Some(0xC0));
    assert_eq!(dev.try_receive(), Some(5));
    assert_clean(&emu);
}

#[test]
fn a_reset_drops_the_waiting_bytes_and_what_arrives_while_it_waits() {
    let (emu, dev, _told) = cabled_card(EmulatorConfig::default());
    for b in [1, 2, 3, 4] {
        assert_eq!(dev.try_send(b), Ok(Sent::Accepted));
    }
    // Byte 1 is on the wire; 2, 3, 4 wait in the FIFO, which the reset empties. Byte 1
    // reaches MIDI IN one byte time later, while the card (in UART mode, so silent on the
    // first 0xFF) is awaited: the reset reads it as not its acknowledgement and drops it.
    assert_eq!(dev.reset(), Ok(()));
    host::advance(10 * BYTE_TIME_100NS);
    let got: Vec<u8> = std::iter::from_fn(|| dev.try_receive()).collect();
    assert_eq!(got, [] as [u8; 0]);
    assert_eq!(emu.next_input_time(), None);
    assert_clean(&emu);
}

/// A slow card, acknowledging each command 20 ms after it: the reset waits (up to 50 ms) and
/// UART mode waits twice as long as the reset took, so its late 0xFE is read as the acknowledgement
/// it is, never delivered later as MIDI Active Sensing.
#[test]
fn a_slow_card_is_reset_and_its_late_acknowledgement_is_not_midi() {
    let config = EmulatorConfig {
        ack_delay_100ns: 20 * TICKS_PER_MS,
        ..EmulatorConfig::default()
    };
    let (emu, dev, result, elapsed) = timed_reset(config);
    assert_eq!(result, Ok(()));
    assert_eq!(emu.commands(), [0xFF, 0x3F]);
    assert_eq!(emu.mode(), Mode::Uart);
    assert!(
        elapsed >= 40 * TICKS_PER_MS,
        "both acknowledgements awaited: {elapsed}"
    );
    assert!(elapsed <= i64::from(RESET_MAX_STALL_US) * TICKS_PER_US);
    assert_eq!(dev.stats().uart_mode_unacknowledged, 0);
    host::advance(100 * TICKS_PER_MS);
    assert_eq!(dev.try_receive(), None, "no stray 0xFE");
    assert_clean(&emu);
}

/// A clone that enters UART mode without acknowledging 0x3F starts all the same, after a
/// short wait (its reset was acknowledged at once), and says so in its counters.
#[test]
fn a_clone_that_never_acknowledges_uart_mode_starts() {
    let config = EmulatorConfig {
        acks_uart_mode: false,
        ..EmulatorConfig::default()
    };
    let (emu, dev, result, elapsed) = timed_reset(config);
    assert_eq!(result, Ok(()));
    assert_eq!(emu.commands(), [0xFF, 0x3F]);
    assert_eq!(emu.mode(), Mode::Uart);
    assert!(dev.is_uart_mode());
    assert_eq!(dev.stats().uart_mode_unacknowledged, 1);
    assert!(elapsed <= i64::from((READY_POLLS + 2 * ACK_POLLS) * STALL_STEP_US) * TICKS_PER_US);
    assert_eq!(dev.try_send(0x90), Ok(Sent::Accepted));
    assert_clean(&emu);
}

#[test]
fn unplugging_the_cable_loses_what_is_on_it() {
    let (emu, dev, told) = cabled_card(EmulatorConfig::default());
    assert_eq!(dev.try_send(0xF8), Ok(Sent::Accepted));
    emu.disconnect_cable();
    assert!(!emu.cable_connected());
    assert_eq!(dev.try_send(0xFE), Ok(Sent::Accepted));
    assert_eq!(told.lock().unwrap().len(), 1, "no listener once unplugged");
    host::advance(10 * BYTE_TIME_100NS);
    assert_eq!(dev.try_receive(), None);
    assert_eq!(emu.wire_bytes(), [0xF8, 0xFE]);
    assert_eq!(emu.next_input_time(), None);
    assert_clean(&emu);
}

#[test]
fn a_byte_off_the_cable_is_readable_at_its_arrival_even_with_an_acknowledgement_pending() {
    // A command's 0xFE is queued for later when the command is written; a byte the cable
    // delivers before that time must be readable first, at its own arrival time.
    let (emu, dev, told) = cabled_card(EmulatorConfig {
        acks_reset_in_uart_mode: true,
        ack_delay_100ns: 1_000,
        ..EmulatorConfig::default()
    });
    assert_eq!(dev.try_send(0x90), Ok(Sent::Accepted));
    let arrival = told.lock().unwrap()[0];
    // 0xFF in UART mode at arrival - 500: acknowledged at arrival + 500.
    host::run_until(arrival - 500);
    emu.write(1, 0xFF);
    assert_eq!(
        emu.next_input_time(),
        Some(arrival),
        "the cable's byte comes first"
    );
    host::run_until(arrival);
    assert_eq!(emu.read(1) & 0x80, 0, "DSR clear: the byte is there");
    assert_eq!(emu.read(0), 0x90);
    host::run_until(arrival + 500);
    assert_eq!(emu.read(0), 0xFE);
    assert_eq!(emu.next_input_time(), None);
}

#[test]
fn replacing_the_cable_drops_the_old_listener_outside_the_cards_lock() {
    /// Owned by a listener: its drop looks at the card (takes the card's lock).
    struct LooksAtCard(Mpu401Emulator);
    impl Drop for LooksAtCard {
        fn drop(&mut self) {
            let _ = self.0.cable_connected();
        }
    }
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let emu = Mpu401Emulator::new(EmulatorConfig::default());
        let owned = LooksAtCard(emu.clone());
        emu.connect_cable(Some(Arc::new(move |_| {
            let _ = &owned;
        })));
        emu.connect_cable(None);
        emu.disconnect_cable();
        done.send(()).unwrap();
    });
    assert!(
        finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .is_ok(),
        "connect_cable deadlocked dropping the old listener under the card's lock"
    );
}

// ---- the emulator itself ----

#[test]
fn emulator_reports_what_a_correct_driver_never_does() {
    let emu = Mpu401Emulator::new(EmulatorConfig {
        output_fifo_depth: 1,
        ..EmulatorConfig::default()
    });
    // Unused status bits read as 1; DRR clear, DSR set.
    assert_eq!(emu.read(1), 0xBF);
    emu.write(0, 0x90); // data in intelligent mode
    assert_eq!(emu.read(0), 0xFF); // data with DSR set
    emu.write(1, 0x3F);
    host::advance(1000);
    assert_eq!(emu.read(0), 0xFE);
    emu.write(1, 0x3F); // not a command in UART mode
    emu.write(0, 1);
    emu.write(0, 2);
    assert_eq!(emu.read(1) & 0x40, 0x40, "FIFO of one full");
    emu.write(0, 3); // lost
    emu.write(7, 0);
    assert_eq!(emu.read(7), 0xFF);
    host::advance(10 * BYTE_TIME_100NS);
    assert_eq!(emu.wire_bytes(), [1, 2]);
    let s = emu.stats();
    assert_eq!(
        s,
        EmulatorStats {
            status_reads: 2,
            data_reads: 2,
            empty_reads: 1,
            overruns: 1,
            stray_data: 1,
            ignored_commands: 1,
            input_overruns: 0,
            bad_offsets: 2,
        }
    );
}

// ---- loopback ----

#[test]
fn loopback_returns_what_was_sent_in_order_across_laps() {
    let cable = Loopback::new(8).unwrap();
    assert_eq!(cable.capacity(), 8);
    let mut expected = 0u8;
    let mut next = 0u8;
    for round in 0..100 {
        let burst = 1 + round % 8;
        for _ in 0..burst {
            assert_eq!(cable.try_send(next), Ok(Sent::Accepted));
            next = next.wrapping_add(1);
        }
        assert_eq!(cable.len(), burst);
        for _ in 0..burst {
            assert_eq!(cable.try_receive(), Some(expected));
            expected = expected.wrapping_add(1);
        }
    }
    assert_eq!(cable.try_receive(), None);
    let stats = cable.stats();
    assert_eq!(stats.bytes_sent, stats.bytes_received);
    assert_eq!(
        stats.bytes_sent,
        (0..100u64).map(|r| 1 + r % 8).sum::<u64>()
    );
}

#[test]
fn loopback_full_is_busy_and_empty_is_none() {
    let cable = Loopback::new(4).unwrap();
    assert!(cable.is_empty() && !cable.has_input() && cable.can_send());
    assert_eq!(cable.try_receive(), None);
    for b in 0..4 {
        assert_eq!(cable.try_send(b), Ok(Sent::Accepted));
    }
    assert!(!cable.can_send());
    assert_eq!(cable.try_send(4), Ok(Sent::Busy));
    assert_eq!(cable.try_receive(), Some(0));
    assert_eq!(cable.try_send(4), Ok(Sent::Accepted));
    let rest: Vec<u8> = std::iter::from_fn(|| cable.try_receive()).collect();
    assert_eq!(rest, [1, 2, 3, 4]);
    assert_eq!(
        cable.stats(),
        DeviceStats {
            bytes_sent: 5,
            bytes_received: 5,
            busy: 1,
            ..DeviceStats::default()
        }
    );
}

#[test]
fn loopback_capacity_is_rounded_up_and_bounded() {
    assert_eq!(Loopback::new(0).unwrap().capacity(), 2);
    assert_eq!(Loopback::new(3).unwrap().capacity(), 4);
    assert_eq!(
        Loopback::new(MAX_LOOPBACK_CAPACITY).unwrap().capacity(),
        MAX_LOOPBACK_CAPACITY
    );
    assert!(Loopback::new(MAX_LOOPBACK_CAPACITY + 1).is_none());
    assert_eq!(host::outstanding_allocations(), 0);
}

#[test]
fn loopback_reset_empties_it_at_passive_only() {
    let cable = Loopback::new(16).unwrap();
    for b in 0..10 {
        assert_eq!(cable.try_send(b), Ok(Sent::Accepted));
    }
    {
        let _dpc = host::raise_irql(DISPATCH_LEVEL);
        assert_eq!(cable.reset(), Err(DeviceError::WrongIrql));
        assert_eq!(cable.len(), 10);
    }
    assert_eq!(cable.reset(), Ok(()));
    assert!(cable.is_empty());
    assert_eq!(cable.try_receive(), None);
    assert_eq!(cable.try_send(0x99), Ok(Sent::Accepted));
    assert_eq!(cable.try_receive(), Some(0x99));
    let stats = cable.stats();
    assert_eq!((stats.resets, stats.reset_failures), (1, 1));
}

#[test]
fn loopback_works_at_dispatch_and_is_created_at_passive_only() {
    let cable = Loopback::new(4).unwrap();
    {
        let _dpc = host::raise_irql(DISPATCH_LEVEL);
        assert_eq!(cable.try_send(1), Ok(Sent::Accepted));
        assert_eq!(cable.try_receive(), Some(1));
        assert!(host::take_violations().is_empty());
        assert!(Loopback::new(4).is_none());
    }
    assert!(matches!(
        host::take_violations()[..],
        [Violation::AllocationAtDispatch { .. }]
    ));
}

#[test]
fn loopback_creation_fails_cleanly_when_the_pool_is_exhausted() {
    host::fail_next_allocations(1);
    assert!(Loopback::new(64).is_none());
    assert_eq!(host::outstanding_allocations(), 0);
    assert!(Loopback::new(64).is_some());
}

#[test]
fn loopback_one_sender_one_receiver_on_two_threads() {
    const N: usize = 200_000;
    let cable = Arc::new(Loopback::new(64).unwrap());
    let machine = host::machine();
    let sender = {
        let cable = Arc::clone(&cable);
        let machine = machine.clone();
        std::thread::spawn(move || {
            let _m = machine.enter();
            let mut i = 0;
            while i < N {
                if cable.try_send(i as u8) == Ok(Sent::Accepted) {
                    i += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        })
    };
    let mut received = 0;
    while received < N {
        match cable.try_receive() {
            Some(b) => {
                assert_eq!(b, received as u8, "byte {received} out of order");
                received += 1;
            }
            None => std::thread::yield_now(),
        }
    }
    sender.join().unwrap();
    assert_eq!(cable.try_receive(), None);
    drop(cable);
    assert_eq!(machine.outstanding_allocations(), 0);
}

#[test]
fn loopback_misused_by_two_senders_loses_and_reorders_nothing() {
    // Each sender's bytes: its id in bit 7, a 7-bit sequence number below.
    const PER_SENDER: usize = 100_000;
    let cable = Arc::new(Loopback::new(32).unwrap());
    let machine = host::machine();
    let senders: Vec<_> = (0..2u8)
        .map(|id| {
            let cable = Arc::clone(&cable);
            let machine = machine.clone();
            std::thread::spawn(move || {
                let _m = machine.enter();
                let mut i = 0;
                while i < PER_SENDER {
                    let byte = (id << 7) | (i % 128) as u8;
                    if cable.try_send(byte) == Ok(Sent::Accepted) {
                        i += 1;
                    } else {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let mut counts = [0usize; 2];
    while counts[0] + counts[1] < 2 * PER_SENDER {
        match cable.try_receive() {
            Some(b) => {
                let id = usize::from(b >> 7);
                assert_eq!(
                    usize::from(b & 0x7F),
                    counts[id] % 128,
                    "sender {id}'s byte {} out of order",
                    counts[id]
                );
                counts[id] += 1;
            }
            None => std::thread::yield_now(),
        }
    }
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(cable.try_receive(), None);
    assert_eq!(counts, [PER_SENDER, PER_SENDER]);
}

/// Records what a hooked loopback hands it.
struct Recorder(Mutex<Vec<u8>>);

impl ReceiveHook for Recorder {
    fn received(&self, byte: u8) -> bool {
        self.0.lock().unwrap().push(byte);
        true
    }
}

#[test]
fn loopback_with_a_hook_hands_each_byte_over_and_holds_no_ring() {
    let hook = Arc::new(Recorder(Mutex::new(Vec::new())));
    let cable = Loopback::with_hook(Arc::clone(&hook)).unwrap();
    assert_eq!(host::outstanding_allocations_tagged(LOOPBACK_TAG), 0);
    assert_eq!((cable.capacity(), cable.len()), (0, 0));
    {
        let _dpc = host::raise_irql(DISPATCH_LEVEL);
        for b in [0x90, 60, 100] {
            assert!(cable.can_send());
            assert_eq!(cable.try_send(b), Ok(Sent::Accepted));
        }
    }
    assert_eq!(*hook.0.lock().unwrap(), [0x90, 60, 100]);
    assert!(!cable.has_input());
    assert_eq!(cable.try_receive(), None);
    assert_eq!(cable.reset(), Ok(()));
    assert_eq!(
        cable.stats(),
        DeviceStats {
            bytes_sent: 3,
            bytes_received: 3,
            resets: 1,
            ..DeviceStats::default()
        }
    );
    assert!(host::take_violations().is_empty());
}

// ---- the interface ----

#[test]
fn devices_are_shared_across_processors_through_one_interface() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Mpu401<Mpu401Emulator>>();
    shareable::<Loopback>();

    let (_emu, mpu) = ready_card();
    let cable = Loopback::new(16).unwrap();
    let devices: [&dyn MidiDevice; 2] = [&mpu, &cable];
    for dev in devices {
        assert_eq!(dev.try_send(0xF8), Ok(Sent::Accepted));
        assert_eq!(dev.stats().bytes_sent, 1);
    }
    assert_eq!(cable.try_receive(), Some(0xF8));
}

#[test]
fn device_errors_map_to_ntstatus() {
    assert_eq!(DeviceError::NotReset.status(), STATUS_DEVICE_NOT_READY);
    assert_eq!(DeviceError::NotResponding.status(), STATUS_IO_TIMEOUT);
    assert_eq!(
        DeviceError::NoAcknowledge.status(),
        STATUS_DEVICE_NOT_CONNECTED
    );
    assert_eq!(DeviceError::WrongIrql.status(), STATUS_INVALID_DEVICE_STATE);
}

#[test]
fn no_pool_leak_after_drop() {
    let machine = host::machine();
    {
        let (_emu, mpu) = ready_card();
        let cable = Loopback::new(1024).unwrap();
        assert_eq!(host::outstanding_allocations_tagged(LOOPBACK_TAG), 1);
        assert_eq!(machine.pool_stats(LOOPBACK_TAG).live_bytes, 1024 * 8);
        assert_eq!(cable.try_send(1), Ok(Sent::Accepted));
        assert_eq!(mpu.try_send(1), Ok(Sent::Accepted));
    }
    assert_eq!(machine.outstanding_allocations(), 0);
    assert_eq!(machine.outstanding_bytes(), 0);
    assert!(host::take_violations().is_empty());
}
