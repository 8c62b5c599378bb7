//! bindgen over build/headers.h, and the GUID and NTSTATUS values of the headers it included.
//! Shared by both Windows-target builds (see build.rs); only the builder's clang setup differs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The C types and interfaces the hand-written `abi` mirrors; bindgen follows what they use.
const TYPES: &[&str] = &[
    "GUID",
    "DMUS_KERNEL_EVENT",
    "DMUS_STREAM_TYPE",
    "KSSTATE",
    "IUnknown",
    "IMXF",
    "IAllocatorMXF",
    "IMasterClock",
    "IServiceSink",
    "IServiceGroup",
    "IPort",
    "IPortDMus",
    "IMiniport",
    "IMiniportDMus",
    "IResourceList",
    "IPowerNotify",
    "KSIDENTIFIER",
    "KSDATAFORMAT",
    "KSDATARANGE",
    "KSDATARANGE_MUSIC",
    "KSPROPERTY_DESCRIPTION",
    "KSNODEPROPERTY",
    "KSPIN_DESCRIPTOR",
    "KSPIN_DATAFLOW",
    "KSPIN_COMMUNICATION",
    "PCPIN_DESCRIPTOR",
    "PCFILTER_DESCRIPTOR",
    "PCAUTOMATION_TABLE",
    "PCPROPERTY_ITEM",
    "PCPROPERTY_REQUEST",
    "PCNODE_DESCRIPTOR",
    "PCCONNECTION_DESCRIPTOR",
    "PCPFNSTARTDEVICE",
    "CM_PARTIAL_RESOURCE_DESCRIPTOR",
    "CM_RESOURCE_TYPE",
    "POWER_STATE",
    "DEVICE_POWER_STATE",
    "POOL_TYPE",
    "UNICODE_STRING",
    "KDPC",
    "KTIMER",
    "KSPIN_LOCK",
    "KIRQL",
    "PDRIVER_ADD_DEVICE",
    "IInterruptSync",
    "INTERRUPTSYNCMODE",
    "PINTERRUPTSYNCROUTINE",
    "PINTERRUPTSYNC",
    "PPORT",
    "PSERVICEGROUP",
    "PUNKNOWN",
    "PRESOURCELIST",
    "PDEVICE_OBJECT",
    "PWCHAR",
    "DPFLTR_TYPE",
];

/// Constants checked by value (macros and enum members).
const VARS: &[&str] = &[
    "DONT_HOLD_FOR_SEQUENCING",
    "KSPROPERTY_TYPE_(GET|SET|BASICSUPPORT|TOPOLOGY)",
    "KSDATA(FORMAT|RANGE)_(REQUIRED_)?ATTRIBUTES",
    "KSSTATE_.*",
    "DMUS_STREAM_.*",
    "KSPIN_DATAFLOW_.*",
    "KSPIN_COMMUNICATION_.*",
    "PowerDevice.*",
    "NonPagedPool(Nx)?",
    "CmResourceType(Port|Interrupt|Memory)",
    "(PASSIVE|APC|DISPATCH|HIGH)_LEVEL",
    "DPFLTR_(ERROR|WARNING|TRACE|INFO)_LEVEL",
    "InterruptSyncMode(Normal|All|Repeat)",
];

/// Functions whose prototypes bindgen emits (the imports the driver declares by hand).
const FUNCTIONS: &[&str] = &[
    "PcInitializeAdapterDriver",
    "PcAddAdapterDevice",
    "PcNewPort",
    "PcNewServiceGroup",
    "PcNewInterruptSync",
    "PcRegisterSubdevice",
];

/// Headers that define GUIDs we use but that build/headers.h cannot include in a kernel build
/// (dmksctrl.h is a user-mode header); they are read for values only, from the directories of
/// the headers clang did include.
const VALUE_ONLY_HEADERS: &[&str] = &["dmksctrl.h", "dmusprop.h", "unknwn.h"];

#[derive(Debug, Default)]
struct Included(Arc<Mutex<BTreeSet<PathBuf>>>);

impl bindgen::callbacks::ParseCallbacks for Included {
    fn include_file(&self, filename: &str) {
        println!("cargo:rerun-if-changed={filename}");
        if let Ok(mut files) = self.0.lock() {
            files.insert(PathBuf::from(filename));
        }
    }
}

pub fn generate(builder: bindgen::Builder, out: &Path) -> Result<(), String> {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?;
    let header = Path::new(&manifest).join("build").join("headers.h");
    let included = Arc::new(Mutex::new(BTreeSet::new()));
    let mut builder = builder
        .header(header.display().to_string())
        .use_core()
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .derive_debug(false)
        .derive_default(false)
        .parse_callbacks(Box::new(Included(included.clone())));
    for t in TYPES {
        builder = builder.allowlist_type(t);
    }
    for v in VARS {
        builder = builder.allowlist_var(v);
    }
    for f in FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    let bindings = builder
        .generate()
        .map_err(|e| format!("bindgen over {}: {e}", header.display()))?;
    bindings
        .write_to_file(out.join("headers.rs"))
        .map_err(|e| format!("writing headers.rs: {e}"))?;

    let files = included.lock().map_err(|e| e.to_string())?.clone();
    let mut scan: BTreeSet<PathBuf> = files.clone();
    for dir in files.iter().filter_map(|f| f.parent()) {
        for extra in VALUE_ONLY_HEADERS {
            let p = dir.join(extra);
            if p.is_file() {
                scan.insert(p);
            }
        }
    }
    let list: Vec<String> = scan.iter().map(|p| p.display().to_string()).collect();
    std::fs::write(out.join("header_files.txt"), list.join("\n")).map_err(|e| e.to_string())?;
    let mut values = Values::default();
    for file in &scan {
        if let Ok(bytes) = std::fs::read(file) {
            values.scan(&String::from_utf8_lossy(&bytes));
        }
    }
    std::fs::write(out.join("header_values.rs"), values.to_rust())
        .map_err(|e| format!("writing header_values.rs: {e}"))
}

/// GUID and NTSTATUS values found in header text. A name defined twice with different values
/// (e.g. under different `#if`s) keeps every value.
#[derive(Default)]
struct Values {
    guids: BTreeMap<String, BTreeSet<u128>>,
    statuses: BTreeMap<String, BTreeSet<u32>>,
}

impl Values {
    fn scan(&mut self, text: &str) {
        for args in calls(text, "DEFINE_GUIDSTRUCT(") {
            // DEFINE_GUIDSTRUCT("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", NAME)
            let mut parts = args.splitn(2, ',');
            let (Some(s), Some(name)) = (parts.next(), parts.next()) else {
                continue;
            };
            let s = s.trim().trim_matches('"').replace('-', "");
            let name = name.trim();
            if s.len() == 32 && is_ident(name) {
                if let Ok(v) = u128::from_str_radix(&s, 16) {
                    self.guids.entry(name.to_string()).or_default().insert(v);
                }
            }
        }
        for args in calls(text, "DEFINE_GUID(").chain(calls(text, "DEFINE_GUID (")) {
            // DEFINE_GUID(NAME, l, w1, w2, b1, ..., b8)
            let parts: Vec<&str> = args.split(',').map(str::trim).collect();
            if parts.len() != 12 || !is_ident(parts[0]) {
                continue;
            }
            let nums: Option<Vec<u128>> = parts[1..].iter().map(|p| number(p)).collect();
            let Some(n) = nums else { continue };
            if n[0] > u32::MAX as u128
                || n[1] > 0xffff
                || n[2] > 0xffff
                || n[3..].iter().any(|&b| b > 0xff)
            {
                continue;
            }
            let v = n[3..]
                .iter()
                .fold((n[0] << 32) | (n[1] << 16) | n[2], |acc, &b| (acc << 8) | b);
            self.guids
                .entry(parts[0].to_string())
                .or_default()
                .insert(v);
        }
        for line in text.lines() {
            // #define STATUS_NAME ((NTSTATUS)0xC000009AL)
            let Some(rest) = line.trim_start().strip_prefix("#define") else {
                continue;
            };
            let mut it = rest.split_whitespace();
            let (Some(name), Some(value)) = (it.next(), it.next()) else {
                continue;
            };
            let Some((_, lit)) = value.split_once("(NTSTATUS)") else {
                continue;
            };
            if !name.starts_with("STATUS_") {
                continue;
            }
            let lit = lit.trim_end_matches(')');
            if let Some(v) = number(lit).filter(|&v| v <= u32::MAX as u128) {
                self.statuses
                    .entry(name.to_string())
                    .or_default()
                    .insert(v as u32);
            }
        }
    }

    fn to_rust(&self) -> String {
        let mut s = String::from("// Generated by build.rs from the headers' text.\n");
        s.push_str("pub const GUIDS: &[(&str, &[u128])] = &[\n");
        for (name, vals) in &self.guids {
            let vals: Vec<String> = vals.iter().map(|v| format!("0x{v:032x}")).collect();
            let _ = writeln!(s, "    (\"{name}\", &[{}]),", vals.join(", "));
        }
        s.push_str("];\npub const STATUSES: &[(&str, &[u128])] = &[\n");
        for (name, vals) in &self.statuses {
            let vals: Vec<String> = vals.iter().map(|v| format!("0x{v:08x}")).collect();
            let _ = writeln!(s, "    (\"{name}\", &[{}]),", vals.join(", "));
        }
        s.push_str("];\n");
        s
    }
}

/// The argument text of every `NAME(...)` call in `text` (up to the first `)`), skipping
/// `#define NAME(` definitions.
fn calls<'a>(text: &'a str, head: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.match_indices(head).filter_map(move |(at, _)| {
        let before = text[..at].trim_end();
        if before.ends_with("#define") || before.ends_with('_') {
            return None;
        }
        let prev = text[..at].chars().next_back();
        if prev.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        let args = &text[at + head.len()..];
        args.find(')').map(|end| &args[..end])
    })
}

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A C integer literal: decimal or hex, with any U/L suffixes.
fn number(s: &str) -> Option<u128> {
    let s = s.trim().trim_end_matches(['u', 'U', 'l', 'L']);
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u128::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}
