//! Every kernel function the driver declares is in the `.def` file of its module: the import
//! libraries the cross-build links against are made from those files, and the image check
//! refuses any import they do not list, so a declaration missing from them is a link or CI
//! failure waiting to happen on the Windows side. The files are read with the image check's
//! own parser, so that "listed" means here what it means there.

#[path = "../tools/image-check/src/def.rs"]
mod def;

use dmus_miniport::abi::{HAL_IMPORTS, KERNEL_IMPORTS, PORTCLS_IMPORTS, WDM_IMPORTS};

/// The LIBRARY and the exports of `imports/<name>`.
fn def_file(name: &str) -> def::DefFile {
    let path = format!("{}/imports/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    def::parse_def(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_declared_import_is_allowed_by_its_def_file() {
    for (file, library, declared) in [
        (
            "ntoskrnl.def",
            "ntoskrnl.exe",
            [KERNEL_IMPORTS, WDM_IMPORTS].concat(),
        ),
        ("portcls.def", "portcls.sys", PORTCLS_IMPORTS.to_vec()),
        ("hal.def", "HAL.dll", HAL_IMPORTS.to_vec()),
    ] {
        let def = def_file(file);
        assert_eq!(def.library, library, "imports/{file}");
        assert!(!declared.is_empty(), "no import declared for {library}");
        for name in declared {
            assert!(
                def.exports.iter().any(|e| e == name),
                "{name} is declared but not in imports/{file}"
            );
        }
    }
}
