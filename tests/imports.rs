//! Every kernel function the driver declares is in the `.def` file of its module: the import
//! libraries the cross-build links against are made from those files, and the image check
//! refuses any import they do not list, so a declaration missing from them is a link or CI
//! failure waiting to happen on the Windows side.

use dmus_miniport::abi::{HAL_IMPORTS, KERNEL_IMPORTS, PORTCLS_IMPORTS, WDM_IMPORTS};
use std::collections::BTreeSet;

/// The names a `.def` file exports, and its LIBRARY line.
fn def_file(name: &str) -> (String, BTreeSet<String>) {
    let path = format!("{}/imports/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut library = String::new();
    let mut exports = BTreeSet::new();
    let mut in_exports = false;
    for line in text.lines() {
        let line = line.split(';').next().unwrap_or("").trim();
        if let Some(lib) = line.strip_prefix("LIBRARY") {
            library = lib.trim().to_string();
        } else if line == "EXPORTS" {
            in_exports = true;
        } else if in_exports && !line.is_empty() {
            exports.insert(line.split_whitespace().next().unwrap_or("").to_string());
        }
    }
    (library, exports)
}

#[test]
fn every_declared_import_is_allowed_by_its_def_file() {
    let (lib, ntoskrnl) = def_file("ntoskrnl.def");
    assert_eq!(lib, "ntoskrnl.exe");
    for name in KERNEL_IMPORTS.iter().chain(WDM_IMPORTS) {
        assert!(
            ntoskrnl.contains(*name),
            "{name} is declared but not in imports/ntoskrnl.def"
        );
    }
    let (lib, portcls) = def_file("portcls.def");
    assert_eq!(lib, "portcls.sys");
    for name in PORTCLS_IMPORTS {
        assert!(
            portcls.contains(*name),
            "{name} is declared but not in imports/portcls.def"
        );
    }
    let (lib, hal) = def_file("hal.def");
    assert_eq!(lib, "HAL.dll");
    assert!(!HAL_IMPORTS.is_empty());
    for name in HAL_IMPORTS {
        assert!(
            hal.contains(*name),
            "{name} is declared but not in imports/hal.def"
        );
    }
}
