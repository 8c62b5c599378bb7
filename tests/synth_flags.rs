//! The SYNTHCAPS flag bits (dmusprop.h `SYNTH_PC_*`) are DirectMusic's port capability bits
//! (dmusicc.h `DMUS_PC_*`) under other names: the port copies one into the other. mingw-w64's
//! dmusprop.h has no SYNTH_PC_* at all, so the check reads its dmusicc.h when it is installed
//! (CI installs it for the cross-build) and says so when it is not. DMUS_PC_REVERB is missing
//! from mingw-w64's dmusicc.h too; Microsoft's defines it as 0x40000000, a bit no other flag
//! uses (0x40, which an earlier version of this crate gave it, is XGINHARDWARE).

use dmus_miniport::abi::{
    SYNTH_PC_DLS, SYNTH_PC_DLS2, SYNTH_PC_EXTERNAL, SYNTH_PC_GMINHARDWARE, SYNTH_PC_GSINHARDWARE,
    SYNTH_PC_MEMORYSIZEFIXED, SYNTH_PC_REVERB, SYNTH_PC_SOFTWARESYNTH, SYNTH_PC_SYSTEMMEMORY,
    SYNTH_PC_XGINHARDWARE,
};

const OURS: &[(&str, u32)] = &[
    ("DLS", SYNTH_PC_DLS),
    ("EXTERNAL", SYNTH_PC_EXTERNAL),
    ("SOFTWARESYNTH", SYNTH_PC_SOFTWARESYNTH),
    ("MEMORYSIZEFIXED", SYNTH_PC_MEMORYSIZEFIXED),
    ("GMINHARDWARE", SYNTH_PC_GMINHARDWARE),
    ("GSINHARDWARE", SYNTH_PC_GSINHARDWARE),
    ("XGINHARDWARE", SYNTH_PC_XGINHARDWARE),
    ("DLS2", SYNTH_PC_DLS2),
    ("SYSTEMMEMORY", SYNTH_PC_SYSTEMMEMORY),
];

#[test]
fn synth_pc_flags_are_the_dmus_pc_bits_of_dmusicc_h() {
    let path = "/usr/share/mingw-w64/include/dmusicc.h";
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("{path} is not installed (apt-get install mingw-w64-x86-64-dev): not compared");
        return;
    };
    for (name, ours) in OURS {
        let define = format!("DMUS_PC_{name}");
        let value = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("#define "))
            .find_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some(define.as_str()))
                    .then(|| words.next())
                    .flatten()
            })
            .unwrap_or_else(|| panic!("{define} not in {path}"));
        let value = u32::from_str_radix(value.trim_start_matches("0x"), 16)
            .unwrap_or_else(|e| panic!("{define} = {value}: {e}"));
        assert_eq!(*ours, value, "SYNTH_PC_{name}");
    }
}

#[test]
fn reverb_is_a_bit_of_its_own() {
    assert_eq!(SYNTH_PC_REVERB, 0x4000_0000);
    for (name, flag) in OURS.iter().filter(|(n, _)| *n != "SYSTEMMEMORY") {
        assert_eq!(SYNTH_PC_REVERB & flag, 0, "REVERB overlaps {name}");
    }
}
