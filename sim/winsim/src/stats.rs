//! The image's figures for the report: imports called, traps, IRQL raises, DPCs run, pool by
//! tag.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// One counter per import the simulated kernel implements (by its index in `imports::TABLE`).
pub(crate) struct ImportCounts {
    counts: Vec<AtomicU64>,
    pub irql_raises: AtomicU64,
    pub dpcs_run: AtomicU64,
}

impl ImportCounts {
    pub fn new(imports: usize) -> Self {
        ImportCounts {
            counts: (0..imports).map(|_| AtomicU64::new(0)).collect(),
            irql_raises: AtomicU64::new(0),
            dpcs_run: AtomicU64::new(0),
        }
    }

    pub fn bump(&self, index: usize) {
        if let Some(c) = self.counts.get(index) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn get(&self, index: usize) -> u64 {
        self.counts
            .get(index)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// Pool use of one tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TagUse {
    /// Blocks ever allocated.
    pub allocated: u64,
    /// Blocks live at most at once.
    pub high_water: usize,
    /// Blocks live now.
    pub live: usize,
    /// Their bytes.
    pub live_bytes: usize,
}

/// The privileged instructions the trap layer emulated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Traps {
    pub cr8_reads: u64,
    pub cr8_writes: u64,
    pub port_ins: u64,
    pub port_outs: u64,
}

impl Traps {
    pub fn total(&self) -> u64 {
        self.cr8_reads + self.cr8_writes + self.port_ins + self.port_outs
    }
}

/// Everything the image did, for the report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImageStats {
    /// Calls of each import, by name (only those called).
    pub imports: BTreeMap<String, u64>,
    pub traps: Traps,
    /// Imports that raised the IRQL (spin-lock acquisitions that raised it to DISPATCH_LEVEL).
    pub irql_raises: u64,
    /// The image's DPC routines the machine ran.
    pub dpcs_run: u64,
    /// Pool by tag.
    pub pool: BTreeMap<String, TagUse>,
    /// Allocations the low-resources simulation failed.
    pub allocations_failed: u64,
    /// Verifier findings, one line each.
    pub findings: Vec<String>,
}
