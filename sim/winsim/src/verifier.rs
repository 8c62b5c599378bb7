//! Driver Verifier's standard checks, emulated: each broken rule is a [`Finding`] with the
//! driver's call site. The rules come from the DDI pages of the imports (their IRQL
//! requirements) and from what Verifier's standard settings check: spin locks, pool (tags,
//! double and foreign frees, leaks at unload), timers and DPCs on freed memory, IRQL returned
//! to what it was.

use std::fmt;
use std::sync::Mutex;

use serde::Serialize;

/// Which rule was broken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Rule {
    /// An import called above the IRQL its DDI page allows (or below the one it requires).
    Irql {
        import: &'static str,
        irql: u8,
        allowed: &'static str,
    },
    /// KeReleaseSpinLock / KeReleaseSpinLockFromDpcLevel of a lock this processor does not
    /// hold.
    SpinLockNotHeld { import: &'static str },
    /// A spin lock acquired by the processor that already holds it (a deadlock on Windows).
    SpinLockAcquiredTwice,
    /// KeReleaseSpinLock asked to lower the IRQL to above DISPATCH_LEVEL, or to a level other
    /// than the one its acquisition returned.
    SpinLockIrqlMismatch { restored: u8, acquired_at: u8 },
    /// A routine (a DPC, the ISR, a COM call into the driver) returned at another IRQL than
    /// it was called at, or holding a spin lock.
    IrqlNotRestored {
        routine: &'static str,
        entered: u8,
        left: u8,
    },
    /// ExFreePoolWithTag of something the driver did not allocate (or freed already).
    FreeOfUnknownBlock { address: usize },
    /// ExFreePoolWithTag with another tag than the block's.
    FreeWithWrongTag { allocated: String, freed: String },
    /// ExAllocatePool2 without POOL_FLAG_NON_PAGED, or with a zero tag.
    BadPoolRequest { flags: u64, tag: String },
    /// Pool the driver still held at unload.
    Leak {
        tag: String,
        blocks: usize,
        bytes: usize,
    },
    /// Freed memory held a set timer or a queued DPC (bug check 0xC7, TIMER_OR_DPC_INVALID).
    FreedSetTimer { address: usize },
    /// Freed memory held a DPC running now on another processor.
    FreedRunningDpc { address: usize },
    /// A DPC came due whose KTIMER or KDPC is no longer the driver's memory.
    DpcOnFreedMemory { address: usize },
    /// KeInitializeTimer on a timer that is set.
    TimerReinitializedWhileSet { address: usize },
    /// KeSetTimer on a timer never initialized.
    TimerNotInitialized { address: usize },
    /// KeStallExecutionProcessor longer than 50 us at DISPATCH_LEVEL or above.
    LongStall { us: u32, irql: u8 },
    /// An EX_TIMER routine given a handle ExAllocateTimer did not return (or one deleted).
    UnknownTimer {
        import: &'static str,
        address: usize,
    },
    /// An EX_TIMER the driver never deleted (found at unload).
    TimerNotDeleted { address: usize },
    /// Something the simulated kernel does not model.
    Unsupported { what: &'static str },
    /// KeInsertQueueDpc of a KDPC KeInitializeDpc never filled.
    DpcNotInitialized { address: usize },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Irql {
                import,
                irql,
                allowed,
            } => write!(f, "{import} called at IRQL {irql} (allowed: {allowed})"),
            Rule::SpinLockNotHeld { import } => {
                write!(f, "{import} of a spin lock this processor does not hold")
            }
            Rule::SpinLockAcquiredTwice => {
                f.write_str("spin lock acquired by the processor holding it (deadlock)")
            }
            Rule::SpinLockIrqlMismatch {
                restored,
                acquired_at,
            } => write!(
                f,
                "KeReleaseSpinLock restores IRQL {restored}, the lock was acquired at {acquired_at}"
            ),
            Rule::IrqlNotRestored {
                routine,
                entered,
                left,
            } => write!(f, "{routine} entered at IRQL {entered}, returned at {left}"),
            Rule::FreeOfUnknownBlock { address } => {
                write!(f, "free of {address:#x}, not a live block of the driver's")
            }
            Rule::FreeWithWrongTag { allocated, freed } => {
                write!(f, "block tagged {allocated} freed with tag {freed}")
            }
            Rule::BadPoolRequest { flags, tag } => {
                write!(f, "ExAllocatePool2 with flags {flags:#x}, tag {tag}")
            }
            Rule::Leak { tag, blocks, bytes } => {
                write!(
                    f,
                    "{blocks} blocks ({bytes} bytes) tagged {tag} left at unload"
                )
            }
            Rule::FreedSetTimer { address } => write!(
                f,
                "freed memory holds the set timer at {address:#x} (bug check 0xC7)"
            ),
            Rule::FreedRunningDpc { address } => {
                write!(
                    f,
                    "freed memory holds the running DPC's timer at {address:#x}"
                )
            }
            Rule::DpcOnFreedMemory { address } => {
                write!(f, "DPC due for the timer at {address:#x} in freed memory")
            }
            Rule::TimerReinitializedWhileSet { address } => {
                write!(f, "KeInitializeTimer on the set timer at {address:#x}")
            }
            Rule::TimerNotInitialized { address } => {
                write!(f, "KeSetTimer on the uninitialized timer at {address:#x}")
            }
            Rule::LongStall { us, irql } => {
                write!(f, "KeStallExecutionProcessor({us}) at IRQL {irql}")
            }
            Rule::UnknownTimer { import, address } => {
                write!(f, "{import} of {address:#x}, not a live EX_TIMER")
            }
            Rule::TimerNotDeleted { address } => {
                write!(f, "EX_TIMER {address:#x} never deleted (left at unload)")
            }
            Rule::Unsupported { what } => write!(f, "not modelled: {what}"),
            Rule::DpcNotInitialized { address } => {
                write!(
                    f,
                    "KeInsertQueueDpc of the uninitialized KDPC at {address:#x}"
                )
            }
        }
    }
}

/// Where in the driver a finding was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallSite {
    pub rva: u32,
    /// The symbol from the link map, with the offset into it (`name+0x1c`), if a map was
    /// given.
    pub symbol: Option<String>,
}

impl fmt::Display for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RVA {:#x}", self.rva)?;
        if let Some(symbol) = &self.symbol {
            write!(f, " ({symbol})")?;
        }
        Ok(())
    }
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    /// The import call it was found in, if it was found in one.
    pub call_site: Option<CallSite>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.rule)?;
        if let Some(site) = &self.call_site {
            write!(f, " at {site}")?;
        }
        Ok(())
    }
}

/// The findings of one loaded image.
#[derive(Default)]
pub struct Verifier {
    findings: Mutex<Vec<Finding>>,
}

impl Verifier {
    pub(crate) fn record(&self, finding: Finding) {
        eprintln!("driver verifier (simulated): {finding}");
        lock(&self.findings).push(finding);
    }

    /// What was found so far.
    pub fn findings(&self) -> Vec<Finding> {
        lock(&self.findings).clone()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves valid state behind.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
