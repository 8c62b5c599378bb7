//! What the simulated kernel keeps for one loaded image, and how an import finds it: by the
//! call site its thunk noted (the return address lies inside exactly one loaded image).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use dmus_miniport::abi::{IPort, IUnknown, PCPFNSTARTDEVICE, PDRIVER_ADD_DEVICE};
use dmus_miniport::com::ComPtr;
use dmus_miniport::kernel::PoolTag;
use dmus_miniport::kernel::host::Machine;
use image_loader::Symbolizer;

use crate::bus::PortBus;
use crate::stats::ImportCounts;
use crate::verifier::{CallSite, Finding, Rule, Verifier, lock};

/// A pool block the driver allocated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Block {
    pub size: usize,
    pub tag: PoolTag,
}

/// An EX_TIMER the driver allocated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExTimer {
    pub callback: Option<usize>,
    pub context: usize,
    pub resolution: dmus_miniport::kernel::host::Resolution,
}

/// PortCls's side of the device, as the image's PortCls imports fill it.
#[derive(Default)]
pub(crate) struct PortClsState {
    pub add_device: Option<PDRIVER_ADD_DEVICE>,
    pub start_device: Option<PCPFNSTARTDEVICE>,
    /// What the next PcNewPort hands out (the port model's port object).
    pub next_port: Option<ComPtr<IPort>>,
    /// PcRegisterSubdevice: the name and the reference PortCls keeps until the device stops.
    pub subdevices: Vec<(String, ComPtr<IUnknown>)>,
}

/// One loaded image's kernel state.
pub(crate) struct DriverState {
    pub base: usize,
    pub size: usize,
    pub machine: Machine,
    pub symbols: Option<Symbolizer>,
    pub verifier: Verifier,
    pub counts: ImportCounts,
    pub bus: PortBus,
    /// Live pool blocks of the driver, by address.
    pub blocks: Mutex<BTreeMap<usize, Block>>,
    /// Pool high water and totals, by tag.
    pub pool_by_tag: Mutex<BTreeMap<PoolTag, crate::stats::TagUse>>,
    /// Low-resources simulation: allocations to let through before failing, and how many to
    /// fail then.
    pub fail_plan: Mutex<Option<(usize, usize)>>,
    pub allocations_failed: AtomicU64,
    pub portcls: Mutex<PortClsState>,
    /// The driver's EX_TIMERs, by handle.
    pub ex_timers: Mutex<BTreeMap<usize, ExTimer>>,
    /// Every stop so far, and where the next goes.
    pub stops: Mutex<Vec<crate::stop::Stop>>,
    pub run: Mutex<Option<Arc<dyn crate::stop::StopSink>>>,
}

impl DriverState {
    /// The call site of the import being served, as a verifier location.
    pub fn call_site(&self) -> Option<CallSite> {
        self.site_of(crate::call_site::current())
    }

    pub fn site_of(&self, address: usize) -> Option<CallSite> {
        if !self.contains(address) {
            return None;
        }
        let rva = u32::try_from(address - self.base).ok()?;
        let symbol = self
            .symbols
            .as_ref()
            .and_then(|s| s.symbolize(rva))
            .map(|(name, offset)| format!("{name}+{offset:#x}"));
        Some(CallSite { rva, symbol })
    }

    /// Records a finding at the current import's call site.
    pub fn find(&self, rule: Rule) {
        self.verifier.record(Finding {
            rule,
            call_site: self.call_site(),
        });
    }

    /// Whether `address` lies in the image.
    pub fn contains(&self, address: usize) -> bool {
        (self.base..self.base + self.size).contains(&address)
    }

    /// After a routine of the driver's returned: the IRQL it was entered at, and no more spin
    /// locks held than before.
    pub fn check_return(&self, routine: &'static str, entered: u8, locks_before: usize) {
        let left = dmus_miniport::kernel::irql::current();
        if left != entered || crate::ntoskrnl::locks_held() != locks_before {
            self.verifier.record(Finding {
                rule: Rule::IrqlNotRestored {
                    routine,
                    entered,
                    left,
                },
                call_site: None,
            });
        }
    }

    /// Whether the low-resources simulation fails this allocation.
    pub fn inject_failure(&self) -> bool {
        let mut plan = lock(&self.fail_plan);
        let Some((succeed, fail)) = plan.as_mut() else {
            return false;
        };
        if *succeed > 0 {
            *succeed -= 1;
            return false;
        }
        if *fail == 0 {
            *plan = None;
            return false;
        }
        *fail -= 1;
        self.allocations_failed.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Whether `start..start + len` lies inside one live block of the driver's.
    pub fn is_live(&self, start: usize, len: usize) -> bool {
        let blocks = lock(&self.blocks);
        blocks
            .range(..=start)
            .next_back()
            .is_some_and(|(&base, b)| start + len <= base + b.size)
    }
}

static IMAGES: RwLock<Vec<Weak<DriverState>>> = RwLock::new(Vec::new());

pub(crate) fn register(state: &Arc<DriverState>) {
    let mut images = IMAGES.write().unwrap_or_else(|e| e.into_inner());
    images.retain(|w| w.strong_count() > 0);
    images.push(Arc::downgrade(state));
}

/// The first loaded image for which `matches` holds.
fn find_image(matches: impl Fn(&DriverState) -> bool) -> Option<Arc<DriverState>> {
    let images = IMAGES.read().unwrap_or_else(|e| e.into_inner());
    images.iter().filter_map(Weak::upgrade).find(|s| matches(s))
}

/// The image whose code holds `address`.
pub(crate) fn owner_of(address: usize) -> Option<Arc<DriverState>> {
    find_image(|s| s.contains(address))
}

/// The image owning `address` as code or as a live pool block (a KTIMER's key).
pub(crate) fn owner_of_data(address: usize) -> Option<Arc<DriverState>> {
    find_image(|s| s.contains(address) || s.is_live(address, 1))
}

std::thread_local! {
    /// The image whose run this thread serves (`stop::run`).
    static RUNNING: std::cell::RefCell<Weak<DriverState>> = const { std::cell::RefCell::new(Weak::new()) };
}

/// Marks the calling thread as serving `state`'s run.
pub(crate) fn set_running(state: &Arc<DriverState>) {
    RUNNING.with(|r| *r.borrow_mut() = Arc::downgrade(state));
}

/// The image owning the EX_TIMER `handle`.
pub(crate) fn owner_of_ex_timer(handle: usize) -> Option<Arc<DriverState>> {
    find_image(|s| lock(&s.ex_timers).contains_key(&handle))
}

/// The image that made the import call being served on this thread: the one holding the
/// call site, or, for a tail call (`jmp [import]`, whose return address is the driver's
/// caller's), the image this thread runs.
pub(crate) fn caller() -> Option<Arc<DriverState>> {
    owner_of(crate::call_site::current()).or_else(|| RUNNING.with(|r| r.borrow().upgrade()))
}
