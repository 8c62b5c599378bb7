//! The driver package's INF template, `dmus_miniport.inx`, checked on every host.
//!
//! A small INF reader (Microsoft's "General Syntax Rules for INF Files": sections, `key = value`
//! entries, comma-separated fields, quoted strings, `;` comments, `\` continuations, `%strkey%`
//! tokens) and a checker that returns every inconsistency it finds instead of stopping at the
//! first: sections referenced but missing (or present but never referenced), tokens missing from
//! [Strings], the KS category GUIDs against `dmus_miniport::abi`, the hardware IDs, the service,
//! the file names against the crate's output name, the MEDIA class, and the rules of a universal,
//! isolated ("Windows Driver") INF that infverif enforces on Windows. The checks run once per
//! architecture stampinf is given (`$ARCH$` = amd64, arm64).
//!
//! `each_break_is_caught` breaks the text in memory in many ways and requires the checker to
//! refuse each one, so that a check cannot silently stop checking.

use dmus_miniport::abi::{GUID, KSCATEGORY_AUDIO, KSCATEGORY_CAPTURE, KSCATEGORY_RENDER};
use std::collections::{BTreeMap, BTreeSet};

/// The subdevice's reference string: the name the driver passes to PcRegisterSubdevice for its
/// one DMus subdevice (port + miniport pair), and the reference string of every AddInterface.
const SUBDEVICE_REFERENCE: &str = dmus_miniport::miniport::SUBDEVICE_NAME;

/// The hardware IDs the package installs on: the root-enumerated loopback cable and
/// MPU-401-compatible hardware.
const HARDWARE_IDS: [&str; 2] = ["Root\\DMusLoopback", "*PNPB006"];

/// Device setup class MEDIA ("Specifying Version Information for an Audio Adapter").
const MEDIA_CLASS_GUID: u128 = 0x4d36e96c_e325_11ce_bfc1_08002be10318;

/// KSProxy's CLSID, which DirectShow needs under each interface key ("Installing Device
/// Interfaces for an Audio Adapter").
const KSPROXY_CLSID: u128 = 0x17cca71b_ecd7_11d0_b908_00a0c9223196;

/// The architectures wdk-build passes to stampinf (`-a`).
const ARCHES: [&str; 2] = ["amd64", "arm64"];

/// Windows 10 1709: the first build that runs driver files from the Driver Store (DIRID 13).
const RUN_FROM_DRIVER_STORE_BUILD: u32 = 16299;

/// Imports that need a later Windows than the Driver Store does, with the first build that
/// exports them: ExAllocatePool2 came with Windows 10 2004 ("Updating deprecated
/// ExAllocatePool calls to ExAllocatePool2 and ExAllocatePool3"). Every other import of
/// imports/*.def is older than 1709.
const IMPORT_MIN_BUILDS: &[(&str, u32)] = &[("ExAllocatePool2", 19041)];

/// The first Windows build the INF may accept: one that runs from the Driver Store and
/// exports every function the driver imports (imports/*.def).
fn min_build() -> u32 {
    let defs: String = ["ntoskrnl.def", "hal.def", "portcls.def"]
        .iter()
        .map(|f| {
            let path = format!("{}/imports/{f}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
        })
        .collect();
    IMPORT_MIN_BUILDS
        .iter()
        .filter(|(name, _)| defs.lines().any(|l| l.trim() == *name))
        .map(|&(_, build)| build)
        .fold(RUN_FROM_DRIVER_STORE_BUILD, u32::max)
}

/// Sections every INF of this package has, referenced by Windows itself rather than by another
/// section.
const TOP_SECTIONS: [&str; 6] = [
    "Version",
    "Manufacturer",
    "SourceDisksNames",
    "SourceDisksFiles",
    "DestinationDirs",
    "Strings",
];

/// Directives that a universal INF may not use ("Using a Universal INF File").
const NOT_UNIVERSAL: [&str; 13] = [
    "BitReg",
    "DelFiles",
    "DelProperty",
    "DelReg",
    "DelService",
    "Ini2Reg",
    "LogConfig",
    "ProfileItems",
    "RegisterDlls",
    "RenFiles",
    "UnregisterDlls",
    "UpdateIniFields",
    "UpdateInis",
];

// ------------------------------------------------------------------------------------------------
// The reader.

/// One entry: `key = f0, f1, ...` or, without `=`, just fields. Quotes are removed from fields;
/// `%tokens%` are kept (see `Inf::expand`).
#[derive(Debug, Clone)]
struct Entry {
    line: usize,
    key: Option<String>,
    fields: Vec<String>,
}

impl Entry {
    fn field(&self, i: usize) -> &str {
        self.fields.get(i).map_or("", String::as_str)
    }
}

#[derive(Debug)]
struct Section {
    name: String,
    line: usize,
    entries: Vec<Entry>,
}

#[derive(Debug, Default)]
struct Inf {
    sections: Vec<Section>,
    strings: BTreeMap<String, String>,
}

/// Removes a `;` comment (outside quotes) from a physical line.
fn strip_comment(line: &str) -> &str {
    let mut in_quotes = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Splits at `sep` outside quotes.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '"' {
            in_quotes = !in_quotes;
        } else if c == sep && !in_quotes {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// A field without its surrounding quotes (`""` inside a quoted string is one `"`).
fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        s[1..s.len() - 1].replace("\"\"", "\"")
    } else {
        s.to_string()
    }
}

/// Every `%token%` of `s` (without the percent signs); `%%` is a literal percent sign.
fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('%') {
        let after = &rest[open + 1..];
        match after.find('%') {
            Some(0) => rest = &after[1..],
            Some(close) => {
                out.push(after[..close].to_string());
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

impl Inf {
    fn parse(text: &str, errors: &mut Vec<String>) -> Inf {
        let mut inf = Inf::default();
        let mut logical = String::new();
        let mut first_line = 0;
        for (i, raw) in text.lines().enumerate() {
            if logical.is_empty() {
                first_line = i + 1;
            }
            let line = strip_comment(raw).trim_end();
            // A backslash as the last character continues the entry on the next line.
            if let Some(head) = line.strip_suffix('\\') {
                logical.push_str(head);
                continue;
            }
            logical.push_str(line);
            let text = std::mem::take(&mut logical);
            inf.add_line(text.trim(), first_line, errors);
        }
        if !logical.is_empty() {
            errors.push(format!("line {first_line}: continuation at end of file"));
        }
        for section in &inf.sections {
            if section.name.eq_ignore_ascii_case("Strings") {
                for e in &section.entries {
                    let Some(key) = &e.key else {
                        errors.push(format!("line {}: [Strings] entry without a key", e.line));
                        continue;
                    };
                    let value = e.fields.join(",");
                    if inf
                        .strings
                        .insert(key.to_ascii_lowercase(), value)
                        .is_some()
                    {
                        errors.push(format!("line {}: string key {key} defined twice", e.line));
                    }
                }
            }
        }
        inf
    }

    fn add_line(&mut self, text: &str, line: usize, errors: &mut Vec<String>) {
        if text.is_empty() {
            return;
        }
        if let Some(name) = text.strip_prefix('[') {
            let Some(name) = name.strip_suffix(']') else {
                errors.push(format!("line {line}: unterminated section header"));
                return;
            };
            let name = name.trim().to_string();
            if self.section(&name).is_some() {
                errors.push(format!("line {line}: section [{name}] defined twice"));
            }
            self.sections.push(Section {
                name,
                line,
                entries: Vec::new(),
            });
            return;
        }
        let Some(section) = self.sections.last_mut() else {
            errors.push(format!("line {line}: entry before the first section"));
            return;
        };
        let (key, value) = match split_unquoted(text, '=').as_slice() {
            [value] => (None, *value),
            [key, value] => (Some(unquote(key)), *value),
            _ => {
                errors.push(format!("line {line}: more than one '=' outside quotes"));
                return;
            }
        };
        let fields = if value.trim().is_empty() {
            Vec::new()
        } else {
            split_unquoted(value, ',')
                .into_iter()
                .map(unquote)
                .collect()
        };
        section.entries.push(Entry { line, key, fields });
    }

    /// Section names are case-insensitive.
    fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The entries of `section` whose key is `key` (case-insensitive).
    fn values<'a>(&'a self, section: &str, key: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.section(section)
            .into_iter()
            .flat_map(|s| s.entries.iter())
            .filter(move |e| {
                e.key
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case(key))
            })
    }

    /// The one value of `key` in `section`, expanded; an error if absent or repeated.
    fn single(&self, section: &str, key: &str, errors: &mut Vec<String>) -> Option<String> {
        let found: Vec<&Entry> = self.values(section, key).collect();
        match found.as_slice() {
            [e] => Some(self.expand(&e.fields.join(","))),
            [] => {
                errors.push(format!("[{section}] has no {key}"));
                None
            }
            [_, second, ..] => {
                errors.push(format!("line {}: [{section}] repeats {key}", second.line));
                None
            }
        }
    }

    /// `s` with every `%strkey%` replaced by its [Strings] value; DIRIDs (`%13%`) and unknown
    /// keys stay as they are (the token check reports the latter).
    fn expand(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(open) = rest.find('%') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('%') {
                Some(0) => {
                    out.push('%');
                    rest = &after[1..];
                }
                Some(close) => {
                    let key = &after[..close];
                    match self.strings.get(&key.to_ascii_lowercase()) {
                        Some(value) => out.push_str(value),
                        None => {
                            out.push('%');
                            out.push_str(key);
                            out.push('%');
                        }
                    }
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}` (braces required, any case) as the registry form's
/// digits, comparable with `GUID::to_u128`.
fn parse_guid(s: &str) -> Option<u128> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let groups: Vec<&str> = inner.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    if lengths != [8, 4, 4, 4, 12] || !inner.chars().all(|c| c == '-' || c.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(&groups.concat(), 16).ok()
}

fn guid_name(value: u128) -> String {
    let known: [(&str, GUID); 3] = [
        ("KSCATEGORY_AUDIO", KSCATEGORY_AUDIO),
        ("KSCATEGORY_RENDER", KSCATEGORY_RENDER),
        ("KSCATEGORY_CAPTURE", KSCATEGORY_CAPTURE),
    ];
    known
        .iter()
        .find(|(_, g)| g.to_u128() == value)
        .map_or_else(|| format!("{value:032x}"), |(n, _)| n.to_string())
}

fn parse_number(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

// ------------------------------------------------------------------------------------------------
// The checker.

/// What the crate builds: `<lib>.sys` and the `.inx`/`.inf`/`.cat` names wdk-build derives from
/// the package name.
struct Crate {
    lib: String,
}

impl Crate {
    fn sys(&self) -> String {
        format!("{}.sys", self.lib)
    }
    fn cat(&self) -> String {
        format!("{}.cat", self.lib)
    }
}

/// Every inconsistency of `text` (an `.inx`) once stampinf has replaced `$ARCH$` with `arch`.
fn check(text: &str, arch: &str, krate: &Crate) -> Vec<String> {
    let mut errors = Vec::new();
    let stamped = text.replace("$ARCH$", arch);
    let inf = Inf::parse(&stamped, &mut errors);
    let mut referenced: BTreeSet<String> = TOP_SECTIONS
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let mut reference = |name: &str| referenced.insert(name.to_ascii_lowercase());

    check_tokens(&inf, &mut errors);
    check_version(&inf, krate, &mut errors);

    // [Manufacturer] -> models sections, decorated for this architecture.
    let mut models = Vec::new();
    for e in inf
        .section("Manufacturer")
        .into_iter()
        .flat_map(|s| &s.entries)
    {
        let base = e.field(0);
        let decorations = &e.fields[1.min(e.fields.len())..];
        if decorations.is_empty() {
            errors.push(format!(
                "line {}: [Manufacturer] entry without a TargetOSVersion decoration",
                e.line
            ));
        }
        for decoration in decorations {
            check_decoration(decoration, arch, e.line, &mut errors);
            let name = format!("{base}.{decoration}");
            if inf.section(&name).is_none() {
                errors.push(format!("line {}: missing section [{name}]", e.line));
            }
            reference(&name);
            models.push(name);
        }
    }
    if models.is_empty() {
        errors.push("no models section".to_string());
    }

    // Models: hardware ID -> install section.
    let mut installs: BTreeMap<String, String> = BTreeMap::new();
    for name in &models {
        for e in inf.section(name).into_iter().flat_map(|s| &s.entries) {
            let desc = inf.expand(e.key.as_deref().unwrap_or(""));
            if desc.trim().is_empty() {
                errors.push(format!(
                    "line {}: model without a device description",
                    e.line
                ));
            }
            let hwid = e.field(1).to_string();
            if hwid.is_empty() {
                errors.push(format!("line {}: model without a hardware ID", e.line));
                continue;
            }
            if installs
                .insert(hwid.to_ascii_lowercase(), e.field(0).to_string())
                .is_some()
            {
                errors.push(format!("line {}: hardware ID {hwid} listed twice", e.line));
            }
        }
    }
    let expected: BTreeSet<String> = HARDWARE_IDS
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let found: BTreeSet<String> = installs.keys().cloned().collect();
    if found != expected {
        errors.push(format!(
            "hardware IDs are {found:?}, expected exactly {HARDWARE_IDS:?}"
        ));
    }
    let distinct: BTreeSet<String> = installs.values().map(|s| s.to_ascii_lowercase()).collect();
    if distinct.len() != installs.len() {
        errors.push("the two flavours share one install section".to_string());
    }

    // Each flavour: DDInstall, .Services, .Interfaces and what they name.
    let mut service_names = BTreeSet::new();
    let mut friendly_names = BTreeSet::new();
    for (hwid, install) in &installs {
        let Some(dd) = [
            format!("{install}.NT{arch}"),
            format!("{install}.NT"),
            install.clone(),
        ]
        .into_iter()
        .find(|n| inf.section(n).is_some()) else {
            errors.push(format!("{hwid}: missing DDInstall section for {install}"));
            continue;
        };
        reference(&dd);
        let copied = check_ddinstall(&inf, &dd, krate, &mut reference, &mut errors);

        let services = format!("{dd}.Services");
        reference(&services);
        match check_services(&inf, &services, krate, &copied, &mut reference, &mut errors) {
            Some(name) => {
                service_names.insert(name.to_ascii_lowercase());
            }
            None => errors.push(format!(
                "{hwid}: no function driver service in [{services}]"
            )),
        }

        let interfaces = format!("{dd}.Interfaces");
        reference(&interfaces);
        if let Some(name) = check_interfaces(&inf, &interfaces, &mut reference, &mut errors) {
            friendly_names.insert(name);
        }
    }
    if service_names.len() > 1 {
        errors.push(format!(
            "the flavours install different services: {service_names:?}"
        ));
    }
    if friendly_names.len() != installs.len() {
        errors.push("the flavours' interfaces need distinct FriendlyNames".to_string());
    }

    check_files(&inf, krate, &mut errors);
    check_universal(&inf, &mut errors);

    for s in &inf.sections {
        if !referenced.contains(&s.name.to_ascii_lowercase()) {
            errors.push(format!(
                "line {}: section [{}] is never referenced",
                s.line, s.name
            ));
        }
    }
    // Sections shared by both flavours report the same problem twice: say it once.
    let mut seen = BTreeSet::new();
    errors.retain(|e| seen.insert(e.clone()));
    errors
}

/// Every `%strkey%` is defined in [Strings] and every string is used; the only DIRID is 13
/// (the Driver Store).
fn check_tokens(inf: &Inf, errors: &mut Vec<String>) {
    let mut used = BTreeSet::new();
    for s in &inf.sections {
        if s.name.eq_ignore_ascii_case("Strings") {
            continue;
        }
        for e in &s.entries {
            for text in e.key.iter().chain(&e.fields) {
                for token in tokens(text) {
                    if token.chars().all(|c| c.is_ascii_digit()) {
                        if token != "13" {
                            errors.push(format!(
                                "line {}: DIRID %{token}%: a Windows Driver runs from the Driver Store (13)",
                                e.line
                            ));
                        }
                    } else if !inf.strings.contains_key(&token.to_ascii_lowercase()) {
                        errors.push(format!(
                            "line {}: %{token}% is not defined in [Strings]",
                            e.line
                        ));
                    } else {
                        used.insert(token.to_ascii_lowercase());
                    }
                }
            }
        }
    }
    for e in inf.section("Strings").into_iter().flat_map(|s| &s.entries) {
        let key = e.key.as_deref().unwrap_or("");
        if !used.contains(&key.to_ascii_lowercase()) {
            errors.push(format!("line {}: [Strings] {key} is never used", e.line));
        }
    }
}

fn check_version(inf: &Inf, krate: &Crate, errors: &mut Vec<String>) {
    if let Some(sig) = inf.single("Version", "Signature", errors)
        && !sig.eq_ignore_ascii_case("$Windows NT$")
    {
        errors.push(format!("Signature is {sig}, expected \"$Windows NT$\""));
    }
    if let Some(class) = inf.single("Version", "Class", errors)
        && !class.eq_ignore_ascii_case("MEDIA")
    {
        errors.push(format!("Class is {class}, expected MEDIA"));
    }
    if let Some(guid) = inf.single("Version", "ClassGuid", errors)
        && parse_guid(&guid) != Some(MEDIA_CLASS_GUID)
    {
        errors.push(format!(
            "ClassGuid is {guid}, expected MEDIA's {MEDIA_CLASS_GUID:032x}"
        ));
    }
    if let Some(provider) = inf.single("Version", "Provider", errors)
        && (provider.trim().is_empty() || provider.contains('%'))
    {
        errors.push(format!("Provider {provider} is empty or undefined"));
    }
    if let Some(cat) = inf.single("Version", "CatalogFile", errors)
        && !cat.eq_ignore_ascii_case(&krate.cat())
    {
        errors.push(format!("CatalogFile is {cat}, expected {}", krate.cat()));
    }
    if let Some(lockdown) = inf.single("Version", "PnpLockdown", errors)
        && lockdown.trim() != "1"
    {
        errors.push(format!("PnpLockdown is {lockdown}, expected 1"));
    }
    // stampinf writes the value; the template only has to have the line.
    let _ = inf.single("Version", "DriverVer", errors);
}

/// `NT<arch>[.major[.minor[.ProductType[.SuiteMask[.Build]]]]]`: this architecture, no
/// ProductType or SuiteMask (not allowed in a universal INF), and a build that runs from the
/// Driver Store.
fn check_decoration(decoration: &str, arch: &str, line: usize, errors: &mut Vec<String>) {
    let parts: Vec<&str> = decoration.split('.').collect();
    let want = format!("NT{arch}");
    if !parts[0].eq_ignore_ascii_case(&want) {
        errors.push(format!(
            "line {line}: decoration {decoration} is not {want} (use NT$ARCH$ for stampinf)"
        ));
    }
    if parts.get(3).is_some_and(|p| !p.is_empty()) || parts.get(4).is_some_and(|p| !p.is_empty()) {
        errors.push(format!(
            "line {line}: decoration {decoration} has a ProductType or SuiteMask (not universal)"
        ));
    }
    let build = parts.get(5).and_then(|b| b.parse::<u32>().ok());
    let min = min_build();
    if parts.get(1) != Some(&"10") || build.is_none_or(|b| b < min) {
        errors.push(format!(
            "line {line}: decoration {decoration} must require 10.0...{min} or later (run from Driver Store, and every import exported)"
        ));
    }
}

/// The DDInstall section's directives; returns the files it copies (with their DIRID).
fn check_ddinstall(
    inf: &Inf,
    dd: &str,
    krate: &Crate,
    reference: &mut impl FnMut(&str) -> bool,
    errors: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut copied = BTreeMap::new();
    let set = |key: &str| -> BTreeSet<String> {
        inf.values(dd, key)
            .flat_map(|e| e.fields.iter())
            .map(|f| f.to_ascii_lowercase())
            .collect()
    };
    let include = set("Include");
    let needs = set("Needs");
    let want_include: BTreeSet<String> = ["ks.inf", "wdmaudio.inf"].map(String::from).into();
    let want_needs: BTreeSet<String> = ["ks.registration", "wdmaudio.registration"]
        .map(String::from)
        .into();
    if include != want_include {
        errors.push(format!(
            "[{dd}] Include is {include:?}, expected ks.inf and wdmaudio.inf (core audio components)"
        ));
    }
    if needs != want_needs {
        errors.push(format!(
            "[{dd}] Needs is {needs:?}, expected KS.Registration and WDMAUDIO.Registration"
        ));
    }
    for e in inf.values(dd, "CopyFiles") {
        for name in &e.fields {
            if let Some(file) = name.strip_prefix('@') {
                errors.push(format!(
                    "line {}: CopyFiles=@{file}: list the file in a section",
                    e.line
                ));
                continue;
            }
            reference(name);
            let Some(section) = inf.section(name) else {
                errors.push(format!("line {}: missing section [{name}]", e.line));
                continue;
            };
            let dirid = inf
                .values("DestinationDirs", name)
                .chain(inf.values("DestinationDirs", "DefaultDestDir"))
                .map(|d| d.field(0).to_string())
                .next()
                .unwrap_or_default();
            for f in &section.entries {
                copied.insert(f.field(0).to_ascii_lowercase(), dirid.clone());
            }
        }
    }
    if !copied.contains_key(&krate.sys()) {
        errors.push(format!("[{dd}] does not copy {}", krate.sys()));
    }
    for e in inf.values(dd, "AddReg") {
        for name in &e.fields {
            reference(name);
            if inf.section(name).is_none() {
                errors.push(format!("line {}: missing section [{name}]", e.line));
            }
        }
    }
    copied
}

/// The `.Services` section: one function driver service (kernel driver, demand start, our .sys
/// from the Driver Store); returns its name.
fn check_services(
    inf: &Inf,
    services: &str,
    krate: &Crate,
    copied: &BTreeMap<String, String>,
    reference: &mut impl FnMut(&str) -> bool,
    errors: &mut Vec<String>,
) -> Option<String> {
    if inf.section(services).is_none() {
        errors.push(format!("missing section [{services}]"));
        return None;
    }
    let mut function_driver = None;
    for e in inf.values(services, "AddService") {
        let (name, flags, install) = (e.field(0), e.field(1), e.field(2));
        if parse_number(flags).is_some_and(|f| f & 0x2 != 0) {
            if function_driver.replace(name.to_string()).is_some() {
                errors.push(format!("line {}: two function driver services", e.line));
            }
        } else {
            errors.push(format!(
                "line {}: AddService {name} lacks SPSVCINST_ASSOCSERVICE (0x2)",
                e.line
            ));
        }
        reference(install);
        if inf.section(install).is_none() {
            errors.push(format!("line {}: missing section [{install}]", e.line));
            continue;
        }
        for (key, want) in [("ServiceType", 1), ("StartType", 3), ("ErrorControl", 1)] {
            if let Some(value) = inf.single(install, key, errors)
                && parse_number(&value) != Some(want)
            {
                errors.push(format!("[{install}] {key} is {value}, expected {want}"));
            }
        }
        if let Some(name) = inf.single(install, "DisplayName", errors)
            && (name.trim().is_empty() || name.contains('%'))
        {
            errors.push(format!(
                "[{install}] DisplayName {name} is empty or undefined"
            ));
        }
        let want = format!("%13%\\{}", krate.sys());
        if let Some(binary) = inf.single(install, "ServiceBinary", errors) {
            if !binary.eq_ignore_ascii_case(&want) {
                errors.push(format!(
                    "[{install}] ServiceBinary is {binary}, expected {want}"
                ));
            }
            if copied.get(&krate.sys()).map(String::as_str) != Some("13") {
                errors.push(format!(
                    "[{install}] ServiceBinary {binary} is not copied to DIRID 13 by its DDInstall"
                ));
            }
        }
    }
    function_driver
}

/// The `.Interfaces` section: KSCATEGORY_AUDIO, _RENDER and _CAPTURE, each once, all with the
/// subdevice's reference string, and each add-interface section writing FriendlyName and KSProxy's
/// CLSID under the interface key. Returns the FriendlyName.
fn check_interfaces(
    inf: &Inf,
    interfaces: &str,
    reference: &mut impl FnMut(&str) -> bool,
    errors: &mut Vec<String>,
) -> Option<String> {
    if inf.section(interfaces).is_none() {
        errors.push(format!("missing section [{interfaces}]"));
        return None;
    }
    let want: BTreeSet<u128> = [KSCATEGORY_AUDIO, KSCATEGORY_RENDER, KSCATEGORY_CAPTURE]
        .iter()
        .map(GUID::to_u128)
        .collect();
    let mut found = BTreeSet::new();
    let mut friendly = BTreeSet::new();
    for e in inf.values(interfaces, "AddInterface") {
        let guid_text = inf.expand(e.field(0));
        match parse_guid(&guid_text) {
            Some(g) => {
                if !found.insert(g) {
                    errors.push(format!(
                        "line {}: {} registered twice",
                        e.line,
                        guid_name(g)
                    ));
                }
            }
            None => errors.push(format!("line {}: {guid_text} is not a GUID", e.line)),
        }
        let refstr = inf.expand(e.field(1));
        if refstr != SUBDEVICE_REFERENCE {
            errors.push(format!(
                "line {}: reference string {refstr:?}, expected the subdevice name {SUBDEVICE_REFERENCE:?}",
                e.line
            ));
        }
        let section = e.field(2);
        reference(section);
        if inf.section(section).is_none() {
            errors.push(format!("line {}: missing section [{section}]", e.line));
            continue;
        }
        let mut has_clsid = false;
        let mut has_name = None;
        for a in inf.values(section, "AddReg") {
            for name in &a.fields {
                reference(name);
                let Some(addreg) = inf.section(name) else {
                    errors.push(format!("line {}: missing section [{name}]", a.line));
                    continue;
                };
                for r in &addreg.entries {
                    let plain = r.field(0).eq_ignore_ascii_case("HKR")
                        && r.field(1).is_empty()
                        && parse_number(r.field(3)).unwrap_or(0) == 0;
                    let value = inf.expand(r.field(4));
                    if plain && r.field(2).eq_ignore_ascii_case("CLSID") {
                        has_clsid = parse_guid(&value) == Some(KSPROXY_CLSID);
                    }
                    if plain && r.field(2).eq_ignore_ascii_case("FriendlyName") {
                        has_name = Some(value).filter(|v| !v.trim().is_empty() && !v.contains('%'));
                    }
                }
            }
        }
        if !has_clsid {
            errors.push(format!(
                "[{section}] does not write HKR,,CLSID,,{{17CCA71B-ECD7-11D0-B908-00A0C9223196}} (KSProxy)"
            ));
        }
        match has_name {
            Some(n) => {
                friendly.insert(n);
            }
            None => errors.push(format!("[{section}] does not write HKR,,FriendlyName")),
        }
    }
    if found != want {
        let names = |s: &BTreeSet<u128>| s.iter().map(|g| guid_name(*g)).collect::<Vec<_>>();
        errors.push(format!(
            "[{interfaces}] KS categories are {:?}, expected exactly {:?} (a pure MPU-401 device: not SYNTHESIZER)",
            names(&found),
            names(&want)
        ));
    }
    if friendly.len() > 1 {
        errors.push(format!(
            "[{interfaces}] registers several FriendlyNames: {friendly:?}"
        ));
    }
    friendly.into_iter().next()
}

/// Source media, SourceDisksFiles, DestinationDirs and CopyFiles sections agree, and only our
/// .sys is in the package.
fn check_files(inf: &Inf, krate: &Crate, errors: &mut Vec<String>) {
    let disks: BTreeSet<String> = inf
        .section("SourceDisksNames")
        .into_iter()
        .flat_map(|s| &s.entries)
        .filter_map(|e| e.key.clone())
        .collect();
    if disks.is_empty() {
        errors.push("[SourceDisksNames] names no disk".to_string());
    }
    let mut sources = BTreeMap::new();
    for e in inf
        .section("SourceDisksFiles")
        .into_iter()
        .flat_map(|s| &s.entries)
    {
        let file = e.key.clone().unwrap_or_default();
        if !disks.contains(e.field(0)) {
            errors.push(format!(
                "line {}: {file} is on disk {}, not in [SourceDisksNames]",
                e.line,
                e.field(0)
            ));
        }
        sources.insert(file.to_ascii_lowercase(), e.field(1).to_string());
    }
    let want: BTreeSet<String> = [krate.sys()].into();
    let have: BTreeSet<String> = sources.keys().cloned().collect();
    if have != want {
        errors.push(format!(
            "[SourceDisksFiles] lists {have:?}, expected exactly {want:?}"
        ));
    }
    for e in inf
        .section("DestinationDirs")
        .into_iter()
        .flat_map(|s| &s.entries)
    {
        let name = e.key.clone().unwrap_or_default();
        if e.field(0) != "13" {
            errors.push(format!(
                "line {}: DestinationDirs {name} = {}: a Windows Driver runs from the Driver Store (13)",
                e.line,
                e.field(0)
            ));
        }
        if !name.eq_ignore_ascii_case("DefaultDestDir") {
            let Some(section) = inf.section(&name) else {
                errors.push(format!("line {}: missing section [{name}]", e.line));
                continue;
            };
            for f in &section.entries {
                let file = f.field(0).to_ascii_lowercase();
                match sources.get(&file) {
                    None => errors.push(format!(
                        "line {}: {file} is not in [SourceDisksFiles]",
                        f.line
                    )),
                    // Run from Driver Store: the source subdir must equal the destination subdir.
                    Some(subdir) if subdir != e.field(1) => errors.push(format!(
                        "line {}: {file} comes from subdir {subdir:?} but goes to {:?}",
                        f.line,
                        e.field(1)
                    )),
                    Some(_) => {}
                }
                if f.fields.len() > 1 && !f.field(1).is_empty() {
                    errors.push(format!(
                        "line {}: CopyFiles may not rename a file run from the Driver Store",
                        f.line
                    ));
                }
            }
        }
    }
}

/// No directive a universal INF forbids, and registry writes only under HKR.
fn check_universal(inf: &Inf, errors: &mut Vec<String>) {
    let mut addreg_sections = BTreeSet::new();
    for s in &inf.sections {
        for e in &s.entries {
            let Some(key) = &e.key else { continue };
            if NOT_UNIVERSAL.iter().any(|d| d.eq_ignore_ascii_case(key)) {
                errors.push(format!(
                    "line {}: {key} is not allowed in a universal INF",
                    e.line
                ));
            }
            if key.eq_ignore_ascii_case("AddReg") {
                addreg_sections.extend(e.fields.iter().map(|f| f.to_ascii_lowercase()));
            }
        }
    }
    for s in &inf.sections {
        if !addreg_sections.contains(&s.name.to_ascii_lowercase()) {
            continue;
        }
        for e in &s.entries {
            if e.key.is_some() || !e.field(0).eq_ignore_ascii_case("HKR") {
                errors.push(format!(
                    "line {}: registry root {:?}: only HKR in a universal, isolated INF",
                    e.line,
                    e.field(0)
                ));
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The tests.

fn repo_file(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The `[lib] name` of Cargo.toml: the name of the image (`<lib>.dll`, copied to `<lib>.sys`).
fn crate_under_test() -> Crate {
    let manifest = repo_file("Cargo.toml");
    let mut in_lib = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_lib = line == "[lib]";
        } else if in_lib
            && let Some(value) = line.strip_prefix("name")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            return Crate {
                lib: value.trim().trim_matches('"').to_string(),
            };
        }
    }
    panic!("Cargo.toml has no [lib] name");
}

fn inx_path(krate: &Crate) -> String {
    format!("{}.inx", krate.lib)
}

#[test]
fn the_package_names_agree() {
    let krate = crate_under_test();
    // wdk-build names the .inx, .inf, .sys and .cat after the package (cargo-make's
    // CARGO_MAKE_CRATE_FS_NAME, '-' -> '_'); cargo names the image after [lib].
    assert_eq!(env!("CARGO_PKG_NAME").replace('-', "_"), krate.lib);
    assert_eq!(krate.sys(), "dmus_miniport.sys");
    // wdk-build's copy-inx-to-output takes <crate root>/<crate>.inx, the template this checks:
    // it is there, and Makefile.toml does not replace that task.
    assert!(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(inx_path(&krate))
            .is_file()
    );
    assert!(!repo_file("Makefile.toml").contains("[tasks.copy-inx-to-output]"));
}

#[test]
fn the_inx_is_consistent() {
    let krate = crate_under_test();
    let text = repo_file(&inx_path(&krate));
    for arch in ARCHES {
        let errors = check(&text, arch, &krate);
        assert!(
            errors.is_empty(),
            "{} ($ARCH$ = {arch}):\n  {}",
            inx_path(&krate),
            errors.join("\n  ")
        );
    }
}

#[test]
fn the_reader_handles_inf_syntax() {
    let text = "; comment\n[Sec]\nKey = \"a;b\", \"say \"\"hi\"\"\" ; tail\nA, \\\n  B,,%S%\n[Strings]\nS = \"x\"\n";
    let mut errors = Vec::new();
    let inf = Inf::parse(text, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    let entries = &inf.section("sec").unwrap().entries;
    assert_eq!(entries[0].key.as_deref(), Some("Key"));
    assert_eq!(entries[0].fields, ["a;b", "say \"hi\""]);
    assert_eq!(entries[1].fields, ["A", "B", "", "%S%"]);
    assert_eq!(inf.expand("%S%-%%-%13%"), "x-%-%13%");
    assert_eq!(tokens("%a%,%%,%13%"), ["a", "13"]);
    assert_eq!(
        parse_guid("{6994AD04-93EF-11D0-A3CC-00A0C9223196}"),
        Some(KSCATEGORY_AUDIO.to_u128())
    );
    assert_eq!(parse_guid("6994AD04-93EF-11D0-A3CC-00A0C9223196"), None);
}

/// Each break of the template must be refused with a message that names the problem.
#[test]
fn each_break_is_caught() {
    let krate = crate_under_test();
    let text = repo_file(&inx_path(&krate));
    // (what is broken, text replaced (first occurrence), replacement, expected in a message)
    let breaks: &[(&str, &str, &str, &str)] = &[
        (
            "service binary name",
            "ServiceBinary = %13%\\dmus_miniport.sys",
            "ServiceBinary = %13%\\dmus.sys",
            "ServiceBinary",
        ),
        (
            "service binary outside the Driver Store",
            "ServiceBinary = %13%\\",
            "ServiceBinary = %12%\\",
            "DIRID %12%",
        ),
        (
            "copied file",
            "[DMus_CopyFiles]\ndmus_miniport.sys",
            "[DMus_CopyFiles]\ndmus_miniport.dll",
            "does not copy",
        ),
        (
            "source file",
            "dmus_miniport.sys = 1,,",
            "dmus.sys = 1,,",
            "[SourceDisksFiles]",
        ),
        (
            "source disk",
            "dmus_miniport.sys = 1,,",
            "dmus_miniport.sys = 2,,",
            "not in [SourceDisksNames]",
        ),
        (
            "destination",
            "DMus_CopyFiles = 13",
            "DMus_CopyFiles = 12",
            "Driver Store (13)",
        ),
        (
            "undefined token",
            "%DMus.Mpu401.FriendlyName%",
            "%DMus.Mpu401.FriendlyNam%",
            "not defined in [Strings]",
        ),
        (
            "missing section",
            "[DMus_Mpu401_Interface]",
            "[DMus_Mpu401_Iface]",
            "missing section [DMus_Mpu401_Interface]",
        ),
        (
            "orphan section",
            "[Strings]",
            "[Unused]\nHKR,,X,,1\n\n[Strings]",
            "never referenced",
        ),
        (
            "duplicate section",
            "[DMus_Service]",
            "[DMus_CopyFiles]\n\n[DMus_Service]",
            "defined twice",
        ),
        (
            "KS category GUID",
            "KSCATEGORY_RENDER  = \"{65E8773E",
            "KSCATEGORY_RENDER  = \"{65E8773F",
            "KS categories",
        ),
        (
            "synthesizer category",
            "AddInterface = %KSCATEGORY_CAPTURE%, %KSNAME_UART%, DMus_Mpu401_Interface",
            "AddInterface = {DFF220F3-F70F-11D0-B917-00A0C9223196}, %KSNAME_UART%, DMus_Mpu401_Interface",
            "not SYNTHESIZER",
        ),
        (
            "category twice",
            "%KSCATEGORY_RENDER%,  %KSNAME_UART%, DMus_Loopback",
            "%KSCATEGORY_AUDIO%,  %KSNAME_UART%, DMus_Loopback",
            "registered twice",
        ),
        (
            "reference string",
            "KSNAME_UART        = \"UART\"",
            "KSNAME_UART        = \"DMusUART\"",
            "reference string",
        ),
        (
            "KSProxy CLSID",
            "Proxy.CLSID        = \"{17CCA71B",
            "Proxy.CLSID        = \"{17CCA71C",
            "KSProxy",
        ),
        (
            "friendly name",
            "HKR,,FriendlyName,,%DMus.Mpu401.FriendlyName%",
            "HKR,,FriendlyNam,,%DMus.Mpu401.FriendlyName%",
            "FriendlyName",
        ),
        (
            "same friendly names",
            "%DMus.Mpu401.FriendlyName%\n",
            "%DMus.Loopback.FriendlyName%\n",
            "distinct FriendlyNames",
        ),
        (
            "loopback hardware ID",
            "DMus_Loopback, Root\\DMusLoopback",
            "DMus_Loopback, Root\\DMusLoopbak",
            "hardware IDs",
        ),
        (
            "MPU-401 hardware ID",
            "DMus_Mpu401, *PNPB006",
            "DMus_Mpu401, *PNPB007",
            "hardware IDs",
        ),
        (
            "flavours merged",
            "DMus_Mpu401, *PNPB006",
            "DMus_Loopback, *PNPB006",
            "share one install section",
        ),
        (
            "class",
            "Class       = MEDIA",
            "Class       = SYSTEM",
            "expected MEDIA",
        ),
        (
            "class GUID",
            "{4d36e96c-e325",
            "{4d36e96d-e325",
            "ClassGuid",
        ),
        (
            "signature",
            "\"$Windows NT$\"",
            "\"$Chicago$\"",
            "Signature",
        ),
        ("PnP lockdown", "PnpLockdown = 1\n", "\n", "PnpLockdown"),
        (
            "catalog",
            "CatalogFile = dmus_miniport.cat",
            "CatalogFile = dmus.cat",
            "CatalogFile",
        ),
        (
            "DriverVer line",
            "DriverVer   =",
            "DriverVersion =",
            "DriverVer",
        ),
        (
            "kernel driver",
            "ServiceType   = 1 ",
            "ServiceType   = 2 ",
            "ServiceType",
        ),
        (
            "demand start",
            "StartType     = 3 ",
            "StartType     = 1 ",
            "StartType",
        ),
        (
            "function driver flag",
            "dmus_miniport, 0x00000002",
            "dmus_miniport, 0x00000000",
            "SPSVCINST_ASSOCSERVICE",
        ),
        (
            "missing services section",
            "[DMus_Mpu401.NT.Services]",
            "[DMus_Mpu401.NT.Service]",
            "missing section [DMus_Mpu401.NT.Services]",
        ),
        (
            "core audio components",
            "Include   = ks.inf, wdmaudio.inf",
            "Include   = ks.inf",
            "Include",
        ),
        (
            "architecture",
            "DMus, NT$ARCH$.",
            "DMus, NTamd64.",
            "NTarm64",
        ),
        (
            "OS build",
            "NT$ARCH$.10.0...19041\n",
            "NT$ARCH$.10.0...16299\n",
            "every import exported",
        ),
        (
            "product type",
            "%ManufacturerName% = DMus, NT$ARCH$.10.0...19041",
            "%ManufacturerName% = DMus, NT$ARCH$.10.0.1..19041",
            "ProductType",
        ),
        (
            "non-universal directive",
            "AddReg    = DMus_Loopback_AddReg",
            "AddReg    = DMus_Loopback_AddReg\nDelReg    = DMus_Loopback_AddReg",
            "universal INF",
        ),
        (
            "global registry",
            "HKR,,Driver,,",
            "HKLM,,Driver,,",
            "only HKR",
        ),
        (
            "renaming copy",
            "[DMus_CopyFiles]\ndmus_miniport.sys",
            "[DMus_CopyFiles]\ndmus_miniport.sys, other.sys",
            "may not rename",
        ),
    ];
    let mut missed = Vec::new();
    for (what, from, to, expect) in breaks {
        assert!(
            text.contains(from),
            "break {what:?}: {from:?} is no longer in the template"
        );
        let broken = text.replacen(from, to, 1);
        let errors: Vec<String> = ARCHES
            .iter()
            .flat_map(|arch| check(&broken, arch, &krate))
            .collect();
        if !errors.iter().any(|e| e.contains(expect)) {
            missed.push(format!("{what}: expected {expect:?}, got {errors:?}"));
        }
    }
    assert!(
        missed.is_empty(),
        "breaks not caught:\n  {}",
        missed.join("\n  ")
    );
}
