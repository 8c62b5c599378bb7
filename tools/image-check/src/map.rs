//! Linker map files (`/MAP`), as written by lld-link and by MSVC link.exe.
//!
//! The image has no symbol table, so the map is where symbol names come from. Both linkers write
//! the same layout:
//!
//! ```text
//!  Preferred load address is 0000000180000000
//!   Address         Publics by Value              Rva+Base               Lib:Object
//!  0001:00000010       DriverEntry                0000000180001010     foo.o
//!  ...
//!  Static symbols
//!  0001:00000060       _RNvCs..3big               0000000180001060     foo.o
//! ```
//!
//! A symbol line is `SSSS:OOOOOOOO name VA [flags] object`; link.exe adds flag columns such as
//! `f` for functions. The RVA is `VA - preferred load address`. Absolute symbols (section 0) are
//! skipped.

/// One named address from the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSymbol {
    pub name: String,
    pub rva: u32,
}

/// The parts of a map file the checks use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkMap {
    /// "Preferred load address": the image base the map's addresses assume.
    pub base: u64,
    pub symbols: Vec<MapSymbol>,
}

impl LinkMap {
    /// Every RVA recorded for `name`. (A name can appear twice, e.g. in both lists.)
    pub fn rvas_of(&self, name: &str) -> Vec<u32> {
        let mut rvas: Vec<u32> = self
            .symbols
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.rva)
            .collect();
        rvas.sort_unstable();
        rvas.dedup();
        rvas
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `SSSS:OOOOOOOO` -> section number.
fn section_of(address: &str) -> Option<u16> {
    let (section, offset) = address.split_once(':')?;
    if section.len() != 4 || offset.len() != 8 || !is_hex(section) || !is_hex(offset) {
        return None;
    }
    u16::from_str_radix(section, 16).ok()
}

/// Parses the text of a link map.
pub fn parse_map(text: &str) -> Result<LinkMap, String> {
    const BASE_PREFIX: &str = "Preferred load address is";
    let base = text
        .lines()
        .find_map(|line| line.trim().strip_prefix(BASE_PREFIX))
        .ok_or_else(|| format!("not a link map: no `{BASE_PREFIX}` line"))?;
    let base = u64::from_str_radix(base.trim(), 16)
        .map_err(|_| format!("bad preferred load address `{}`", base.trim()))?;

    let mut symbols = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [address, name, va, ..] = words[..] else {
            continue;
        };
        let Some(section) = section_of(address) else {
            continue;
        };
        // Section summary lines (`0001:00000000 000000f8H .text CODE`) fail this test.
        if !is_hex(va) || va.len() < 8 {
            continue;
        }
        let Ok(va) = u64::from_str_radix(va, 16) else {
            continue;
        };
        if section == 0 || va < base {
            continue; // absolute symbol, not an address in the image
        }
        let rva = u32::try_from(va - base)
            .map_err(|_| format!("symbol `{name}` at {va:#x} is not within 4 GiB of the base"))?;
        symbols.push(MapSymbol {
            name: name.to_string(),
            rva,
        });
    }
    Ok(LinkMap { base, symbols })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLD_MAP: &str = " xb

 Timestamp is 6b012e96 (Sat Nov 21 05:39:34 2026)

 Preferred load address is 0000000180000000

 Start         Length     Name                   Class
 0001:00000000 000000f8H .text                   CODE
 0002:00000000 00000010H .rdata                  DATA

  Address         Publics by Value              Rva+Base               Lib:Object

 0000:00000000       __guard_fids_count         0000000000000000     <absolute>
 0000:00000000       __ImageBase                0000000180000000     <linker-defined>
 0001:00000000       __chkstk                   0000000180001000     xb.o
 0001:00000010       DriverEntry                0000000180001010     xb.o
 0001:00000100       ExAllocatePool2            0000000180001100     ntoskrnl:ntoskrnl.exe
 0002:00000110       __imp_ExAllocatePool2      0000000180002110     ntoskrnl:ntoskrnl.exe

 entry point at         0001:00000010

 Static symbols

 0001:00000060       _RNvCs7lmuqMCbTI4_6ictest3big 0000000180001060     xb.o
";

    #[test]
    fn reads_base_and_symbols_from_an_lld_map() {
        let map = parse_map(LLD_MAP).expect("valid map");
        assert_eq!(map.base, 0x1_8000_0000);
        assert_eq!(map.rvas_of("DriverEntry"), [0x1010]);
        assert_eq!(map.rvas_of("__chkstk"), [0x1000]);
        assert_eq!(map.rvas_of("__imp_ExAllocatePool2"), [0x2110]);
        assert_eq!(map.rvas_of("_RNvCs7lmuqMCbTI4_6ictest3big"), [0x1060]);
        // Neither section lines, absolute symbols nor the entry line become symbols.
        assert!(map.rvas_of(".text").is_empty());
        assert!(map.rvas_of("__guard_fids_count").is_empty());
        assert!(map.rvas_of("__ImageBase").is_empty());
        assert_eq!(map.symbols.len(), 5);
    }

    #[test]
    fn reads_msvc_link_lines_with_flag_columns() {
        let text = "  Preferred load address is 0000000140000000\n\
                    \x20 Address         Publics by Value              Rva+Base       Lib:Object\n\
                    \x20 0001:00000230       DriverEntry                0000000140001230 f   drv.o\n\
                    \x20 0001:00000400       __chkstk                   0000000140001400 f   ntoskrnl:chkstk.obj\n";
        let map = parse_map(text).expect("valid map");
        assert_eq!(map.base, 0x1_4000_0000);
        assert_eq!(map.rvas_of("DriverEntry"), [0x1230]);
        assert_eq!(map.rvas_of("__chkstk"), [0x1400]);
    }

    #[test]
    fn rejects_text_that_is_not_a_map() {
        assert!(parse_map("LIBRARY ntoskrnl.exe\nEXPORTS\n").is_err());
        assert!(parse_map(" Preferred load address is zzzz\n").is_err());
    }
}
