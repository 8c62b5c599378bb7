//! Names for RVAs, from the linker map: the image itself carries no symbol table.

use image_check::map::{LinkMap, parse_map};

/// Looks up the function an RVA falls in.
#[derive(Debug, Clone, Default)]
pub struct Symbolizer {
    /// Sorted by RVA, one entry per RVA; names that identical-code folding put at the same
    /// RVA are joined with " / ".
    symbols: Vec<(u32, String)>,
}

impl Symbolizer {
    /// From the text of an lld-link (or link.exe) `/MAP` file.
    pub fn from_map_text(text: &str) -> Result<Symbolizer, String> {
        Ok(Symbolizer::from_map(&parse_map(text)?))
    }

    pub fn from_map(map: &LinkMap) -> Symbolizer {
        let mut all: Vec<(u32, &str)> = map
            .symbols
            .iter()
            .map(|s| (s.rva, s.name.as_str()))
            .collect();
        // Stable: names at one RVA keep the map's order.
        all.sort_by_key(|&(rva, _)| rva);
        let mut symbols: Vec<(u32, String)> = Vec::new();
        for (rva, name) in all {
            match symbols.last_mut() {
                Some((last, names)) if *last == rva => {
                    if !names.split(" / ").any(|n| n == name) {
                        names.push_str(" / ");
                        names.push_str(name);
                    }
                }
                _ => symbols.push((rva, name.to_string())),
            }
        }
        Symbolizer { symbols }
    }

    /// The nearest symbol at or below `rva`, and the offset from it.
    pub fn symbolize(&self, rva: u32) -> Option<(String, u32)> {
        let index = self.symbols.partition_point(|&(start, _)| start <= rva);
        let (start, name) = self.symbols.get(index.checked_sub(1)?)?;
        Some((name.clone(), rva - start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = " drv\n\n Preferred load address is 0000000140000000\n\n\
  Address         Publics by Value              Rva+Base               Lib:Object\n\n\
 0000:00000000       __ImageBase                0000000140000000     <linker-defined>\n\
 0001:00000000       DriverEntry                0000000140001000     drv.o\n\
 0001:00000040       _RNvXs_3drv4Mxf8put_msg     0000000140001040     drv.o\n\
 0001:00000040       _RNvXs0_3drv4Mxf8put_msg    0000000140001040     drv.o\n\
 0001:00000080       Isr                        0000000140001080     drv.o\n\
 0002:00000010       __imp_KeBugCheckEx         0000000140002010     ntoskrnl:ntoskrnl.exe\n\n\
 entry point at         0001:00000000\n\n Static symbols\n\n\
 0001:00000080       Isr                        0000000140001080     drv.o\n";

    #[test]
    fn names_the_nearest_symbol_at_or_below() {
        let symbols = Symbolizer::from_map_text(MAP).unwrap();
        assert_eq!(symbols.symbolize(0x1000), Some(("DriverEntry".into(), 0)));
        assert_eq!(
            symbols.symbolize(0x103f),
            Some(("DriverEntry".into(), 0x3f))
        );
        assert_eq!(symbols.symbolize(0x1085), Some(("Isr".into(), 5)));
        assert_eq!(
            symbols.symbolize(0x2018),
            Some(("__imp_KeBugCheckEx".into(), 8))
        );
    }

    #[test]
    fn folded_functions_share_one_entry_and_duplicates_collapse() {
        let symbols = Symbolizer::from_map_text(MAP).unwrap();
        assert_eq!(
            symbols.symbolize(0x1041),
            Some((
                "_RNvXs_3drv4Mxf8put_msg / _RNvXs0_3drv4Mxf8put_msg".into(),
                1
            ))
        );
        // Isr is listed twice (publics and statics): one name.
        assert_eq!(symbols.symbolize(0x1080), Some(("Isr".into(), 0)));
    }

    #[test]
    fn nothing_below_the_first_symbol_and_bad_maps_are_errors() {
        let symbols = Symbolizer::from_map_text(MAP).unwrap();
        assert_eq!(symbols.symbolize(0xfff), None);
        assert_eq!(Symbolizer::default().symbolize(0x1000), None);
        assert!(Symbolizer::from_map_text("not a map").is_err());
    }
}
