//! A loaded `dmus_miniport.sys` and its life as the PnP manager and PortCls drive it:
//! DriverEntry, AddDevice, StartDevice (with the port model's DMus port and resource list),
//! stop (PortCls lets go of the subdevice) and unload (what the driver still holds is a leak).
//!
//! Image code runs only inside [`Driver::run`], on a thread prepared for it, so that a fault,
//! a bug check or a deadlock ends the run with a [`Stop`] instead of the process.

use std::path::Path;
use std::ptr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use dmus_miniport::abi::{
    IPort, IResourceList, NTSTATUS, PCPFNSTARTDEVICE, PDRIVER_ADD_DEVICE,
    STATUS_INVALID_DEVICE_STATE,
};
use dmus_miniport::com::ComPtr;
use dmus_miniport::hw::PortIo;
use dmus_miniport::kernel::host::{Machine, set_irql};
use dmus_miniport::kernel::irql;
use image_loader::{Fault, LoadedImage, Registration, Symbolizer, TrapHost};

use crate::bus::PortBus;
use crate::imports;
use crate::state::{self, DriverState, PortClsState};
use crate::stats::{ImageStats, ImportCounts, Traps};
use crate::stop::{self, Stop};
use crate::verifier::{Finding, Rule, lock};

/// Why an image could not be loaded.
#[derive(Debug)]
pub enum LoadFailure {
    Read {
        path: String,
        error: std::io::Error,
    },
    Map {
        path: String,
        error: String,
    },
    Image(image_loader::LoadError),
    /// No `DriverEntry` export, and the entry point is what `/ENTRY` made it.
    Trap(image_loader::TrapError),
}

impl std::fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadFailure::Read { path, error } => write!(f, "{path}: {error}"),
            LoadFailure::Map { path, error } => write!(f, "{path}: {error}"),
            LoadFailure::Image(e) => write!(f, "{e}"),
            LoadFailure::Trap(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LoadFailure {}

/// The processor as the trap layer sees it: CR8 is the simulated IRQL, `in`/`out` go to the
/// image's port bus, a fault stops the run.
struct Cpu {
    state: std::sync::Weak<DriverState>,
}

impl TrapHost for Cpu {
    fn read_cr8(&self) -> u8 {
        irql::current()
    }

    fn write_cr8(&self, value: u8) {
        if value > irql::current()
            && let Some(st) = self.state.upgrade()
        {
            st.counts.irql_raises.fetch_add(1, Ordering::Relaxed);
        }
        set_irql(value);
    }

    fn port_in(&self, port: u16, width: u8) -> u32 {
        let Some(st) = self.state.upgrade() else {
            return u32::MAX;
        };
        (0..u16::from(width)).fold(0u32, |acc, i| {
            acc | u32::from(st.bus.read(port.wrapping_add(i))) << (8 * i)
        })
    }

    fn port_out(&self, port: u16, width: u8, value: u32) {
        if let Some(st) = self.state.upgrade() {
            for i in 0..u16::from(width) {
                st.bus.write(port.wrapping_add(i), (value >> (8 * i)) as u8);
            }
        }
    }

    fn fault(&self, fault: Fault) {
        if let Some(st) = self.state.upgrade() {
            let stop = Stop::from_fault(&fault, &st);
            stop::report(&st, stop);
        }
    }
}

/// Storage standing for the DRIVER_OBJECT, the PDO and the FDO: the driver only passes them
/// on to PortCls, which is this crate.
#[repr(C, align(16))]
struct KernelObject([u8; 0x200]);

struct Inner {
    state: Arc<DriverState>,
    // Dropped in this order: the registration before the image it covers.
    registration: Mutex<Option<Registration>>,
    image: LoadedImage,
    driver_object: Box<KernelObject>,
    pdo: Box<KernelObject>,
    fdo: Box<KernelObject>,
}

/// A loaded image (a cheap handle: clones share it).
#[derive(Clone)]
pub struct Driver(Arc<Inner>);

/// The stack of the thread image code runs on. Host code (the port model) runs on it too,
/// below and between the driver's frames.
const RUN_STACK: usize = 16 << 20;

impl Driver {
    /// Loads `sys` (and its link map, for symbols), binding its imports to this simulated
    /// kernel on `machine`. An import the kernel lacks is an error naming it.
    pub fn load(sys: &Path, map: Option<&Path>, machine: Machine) -> Result<Driver, LoadFailure> {
        let bytes = std::fs::read(sys).map_err(|error| LoadFailure::Read {
            path: sys.display().to_string(),
            error,
        })?;
        let symbols = match map {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| LoadFailure::Read {
                    path: path.display().to_string(),
                    error,
                })?;
                Some(
                    Symbolizer::from_map_text(&text).map_err(|error| LoadFailure::Map {
                        path: path.display().to_string(),
                        error,
                    })?,
                )
            }
            None => None,
        };
        image_loader::trap::install().map_err(LoadFailure::Trap)?;
        let image = LoadedImage::load(&bytes, &mut imports::resolve).map_err(LoadFailure::Image)?;
        let state = Arc::new(DriverState {
            base: image.base(),
            size: image.size(),
            machine,
            symbols,
            verifier: Default::default(),
            counts: ImportCounts::new(imports::TABLE.len()),
            bus: PortBus::default(),
            blocks: Default::default(),
            pool_by_tag: Default::default(),
            fail_plan: Mutex::new(None),
            allocations_failed: Default::default(),
            portcls: Mutex::new(PortClsState::default()),
            ex_timers: Mutex::new(Default::default()),
            stops: Mutex::new(Vec::new()),
            run: Mutex::new(None),
        });
        state::register(&state);
        let cpu: Arc<dyn TrapHost> = Arc::new(Cpu {
            state: Arc::downgrade(&state),
        });
        let registration = image_loader::trap::register(&image, cpu).map_err(LoadFailure::Trap)?;
        let object = || Box::new(KernelObject([0; 0x200]));
        Ok(Driver(Arc::new(Inner {
            state,
            registration: Mutex::new(Some(registration)),
            image,
            driver_object: object(),
            pdo: object(),
            fdo: object(),
        })))
    }

    /// Runs `f` on a thread prepared for image code, on the image's machine: `Ok` with what
    /// it returned, or the [`Stop`] that ended it (a fault, a bug check, a deadlock). The
    /// port model and every call into the driver belong inside.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Stop> {
        stop::run(&self.0.state, RUN_STACK, f)
    }

    /// The port-I/O bus the image's `in`/`out` reach.
    pub fn bus(&self) -> &PortBus {
        &self.0.state.bus
    }

    /// Attaches a device at `base..base + len` of the bus.
    pub fn attach(&self, base: u16, len: u16, device: Arc<dyn PortIo>) {
        self.0.state.bus.attach(base, len, device);
    }

    /// DriverEntry (its entry point), PASSIVE_LEVEL, as the I/O manager calls it.
    pub fn driver_entry(&self) -> NTSTATUS {
        let entry = self
            .0
            .image
            .export("DriverEntry")
            .unwrap_or(self.0.image.entry_point());
        type Entry = unsafe extern "win64" fn(*mut u8, *mut u8) -> NTSTATUS;
        // SAFETY: the image's DriverEntry (its export, or its entry point, which the link made
        // DriverEntry), with the Windows x64 convention it was built with.
        let entry: Entry = unsafe { std::mem::transmute::<usize, Entry>(entry) };
        let object = ptr::from_ref(&*self.0.driver_object).cast_mut().cast();
        self.call("DriverEntry", || {
            // SAFETY: a driver object and an (empty) registry path standing for the I/O
            // manager's; PortCls's import keeps what it needs.
            unsafe { entry(object, ptr::null_mut()) }
        })
    }

    /// AddDevice, as PcInitializeAdapterDriver registered it.
    pub fn add_device(&self) -> NTSTATUS {
        let Some(add_device): Option<PDRIVER_ADD_DEVICE> = lock(&self.0.state.portcls).add_device
        else {
            return STATUS_INVALID_DEVICE_STATE;
        };
        let object = ptr::from_ref(&*self.0.driver_object).cast_mut().cast();
        let pdo = ptr::from_ref(&*self.0.pdo).cast_mut().cast();
        self.call("AddDevice", || {
            // SAFETY: the driver's AddDevice with its driver object and a PDO.
            unsafe { add_device(object, pdo) }
        })
    }

    /// StartDevice, as PcAddAdapterDevice registered it: its PcNewPort gets `port`, its
    /// IPort::Init `resources`.
    pub fn start_device(&self, port: ComPtr<IPort>, resources: &ComPtr<IResourceList>) -> NTSTATUS {
        let start = {
            let mut portcls = lock(&self.0.state.portcls);
            portcls.next_port = Some(port);
            portcls.start_device
        };
        let Some(start): Option<PCPFNSTARTDEVICE> = start else {
            return STATUS_INVALID_DEVICE_STATE;
        };
        let fdo = ptr::from_ref(&*self.0.fdo).cast_mut().cast();
        let list = resources.as_ptr();
        let status = self.call("StartDevice", || {
            // SAFETY: the driver's StartDevice with its FDO, no IRP (the driver passes it on
            // to IPort::Init, which is the port model's) and a live resource list.
            unsafe { start(fdo, ptr::null_mut(), list) }
        });
        lock(&self.0.state.portcls).next_port = None;
        status
    }

    /// IRP_MN_STOP_DEVICE / REMOVE: PortCls lets go of the subdevices (the port, and through
    /// it the miniport). PASSIVE_LEVEL.
    pub fn stop_device(&self) {
        let subdevices = std::mem::take(&mut lock(&self.0.state.portcls).subdevices);
        drop(subdevices);
    }

    /// The subdevices PcRegisterSubdevice registered, by name.
    pub fn subdevices(&self) -> Vec<String> {
        lock(&self.0.state.portcls)
            .subdevices
            .iter()
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Unload: what the driver still holds in pool is a leak (a finding per tag), and so is
    /// a timer still set.
    pub fn unload(&self) {
        self.stop_device();
        let st = &self.0.state;
        let mut leaks = std::collections::BTreeMap::<String, (usize, usize)>::new();
        for block in lock(&st.blocks).values() {
            let e = leaks.entry(block.tag.to_string()).or_default();
            e.0 += 1;
            e.1 += block.size;
        }
        for (tag, (blocks, bytes)) in leaks {
            st.verifier.record(Finding {
                rule: Rule::Leak { tag, blocks, bytes },
                call_site: None,
            });
        }
        for finding in crate::ex_timer::leaks(st) {
            st.verifier.record(finding);
        }
        for (&address, block) in lock(&st.blocks).iter() {
            for timer in st.machine.armed_in(address, address + block.size) {
                st.verifier.record(Finding {
                    rule: Rule::FreedSetTimer { address: timer },
                    call_site: None,
                });
            }
        }
    }

    /// Low-resources simulation: of the driver's next pool allocations, let `succeed` through,
    /// then fail `fail`.
    pub fn fail_allocations(&self, succeed: usize, fail: usize) {
        *lock(&self.0.state.fail_plan) = Some((succeed, fail));
    }

    /// Pool allocations of the driver's so far (all tags).
    pub fn allocations(&self) -> u64 {
        lock(&self.0.state.pool_by_tag)
            .values()
            .map(|t| t.allocated)
            .sum()
    }

    /// The driver's live pool blocks.
    pub fn live_blocks(&self) -> usize {
        lock(&self.0.state.blocks).len()
    }

    /// The verifier's findings so far.
    pub fn findings(&self) -> Vec<Finding> {
        self.0.state.verifier.findings()
    }

    /// The stops so far.
    pub fn stops(&self) -> Vec<Stop> {
        lock(&self.0.state.stops).clone()
    }

    /// The image's figures.
    pub fn stats(&self) -> ImageStats {
        let st = &self.0.state;
        let traps = lock(&self.0.registration)
            .as_ref()
            .map(Registration::counts)
            .unwrap_or_default();
        ImageStats {
            imports: (0..imports::TABLE.len())
                .filter(|&i| st.counts.get(i) != 0)
                .map(|i| (imports::name_of(i).to_string(), st.counts.get(i)))
                .collect(),
            traps: Traps {
                cr8_reads: traps.cr8_reads,
                cr8_writes: traps.cr8_writes,
                port_ins: traps.port_ins,
                port_outs: traps.port_outs,
            },
            irql_raises: st.counts.irql_raises.load(Ordering::Relaxed),
            dpcs_run: st.counts.dpcs_run.load(Ordering::Relaxed),
            pool: lock(&st.pool_by_tag)
                .iter()
                .map(|(tag, used)| (tag.to_string(), *used))
                .collect(),
            allocations_failed: st.allocations_failed.load(Ordering::Relaxed),
            findings: st
                .verifier
                .findings()
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }

    /// A call into the driver from the outside (the I/O manager, PnP): PASSIVE_LEVEL, and
    /// the IRQL must come back as it went in.
    fn call(&self, routine: &'static str, f: impl FnOnce() -> NTSTATUS) -> NTSTATUS {
        let entered = irql::current();
        let held = crate::ntoskrnl::locks_held();
        let status = f();
        self.0.state.check_return(routine, entered, held);
        status
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Unregister before the mapping goes.
        lock(&self.registration).take();
    }
}
