//! GUID (guiddef.h) and every GUID named in docs/dmus-contract.md section 2, plus the KS categories
//! and the IIDs of the interfaces in this module.
//!
//! The values are written as the registry form's digits (`from_u128`) so that they can be read
//! against the documentation; the cross-build also checks each one that the bound headers define
//! (`layout`).

use core::fmt;

/// guiddef.h `GUID`: 16 bytes, align 4.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GUID {
    pub Data1: u32,
    pub Data2: u16,
    pub Data3: u16,
    pub Data4: [u8; 8],
}

impl GUID {
    /// The GUID whose registry form is the hex digits of `v`, e.g.
    /// `GUID::from_u128(0xb7902fe9_fb0a_11d1_81b0_0060083316c1)`.
    pub const fn from_u128(v: u128) -> Self {
        let b = v.to_be_bytes();
        GUID {
            Data1: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            Data2: u16::from_be_bytes([b[4], b[5]]),
            Data3: u16::from_be_bytes([b[6], b[7]]),
            Data4: [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]],
        }
    }

    /// The inverse of `from_u128`.
    pub const fn to_u128(&self) -> u128 {
        let d = &self.Data4;
        ((self.Data1 as u128) << 96)
            | ((self.Data2 as u128) << 80)
            | ((self.Data3 as u128) << 64)
            | u128::from_be_bytes([
                0, 0, 0, 0, 0, 0, 0, 0, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7],
            ])
    }

    /// `==` usable in constant expressions.
    pub const fn const_eq(&self, other: &GUID) -> bool {
        self.to_u128() == other.to_u128()
    }
}

impl fmt::Debug for GUID {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.Data4;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            self.Data1, self.Data2, self.Data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
        )
    }
}

impl fmt::Display for GUID {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// `REFIID` / `REFGUID` / `REFCLSID`: a pointer to a GUID.
pub type REFIID = *const GUID;

macro_rules! guids {
    ($($(#[$m:meta])* $name:ident = $v:literal;)*) => {
        $($(#[$m])* pub const $name: GUID = GUID::from_u128($v);)*
        /// Every GUID of this module with its header name, for the cross-build's check and for
        /// diagnostics.
        pub const ALL_GUIDS: &[(&str, GUID)] = &[$((stringify!($name), $name)),*];
    };
}

guids! {
    // COM and PortCls interfaces (unknwn.h, portcls.h).
    IID_IUnknown = 0x00000000_0000_0000_c000_000000000046;
    /// IID_IUnknown as mingw-w64's ddk/punknown.h spells it (its last eight bytes shifted:
    /// 00 00 C0 00 ... 46 instead of C0 00 00 00 ... 46). A port built against that header
    /// asks for this one; QueryInterface answers both (`com::object`).
    IID_IUnknown_DDK = 0x00000000_0000_0000_0000_c00000000046;
    IID_IPort = 0xb4c90a25_5791_11d0_86f9_00a0c911b544;
    IID_IMiniport = 0xb4c90a24_5791_11d0_86f9_00a0c911b544;
    IID_IResourceList = 0x22c6ac60_851b_11d0_9a7f_00aa0038acfe;
    IID_IServiceSink = 0x22c6ac64_851b_11d0_9a7f_00aa0038acfe;
    IID_IServiceGroup = 0x22c6ac65_851b_11d0_9a7f_00aa0038acfe;
    IID_IInterruptSync = 0x22c6ac63_851b_11d0_9a7f_00aa0038acfe;
    IID_IPowerNotify = 0x3dd648b8_969f_11d1_95a9_00c04fb925d3;
    // DirectMusic kernel streaming (dmusicks.h): docs/dmus-contract.md section 2.
    CLSID_PortDMus = 0xb7902fe9_fb0a_11d1_81b0_0060083316c1;
    IID_IPortDMus = 0xc096df9c_fb09_11d1_81b0_0060083316c1;
    IID_IMiniportDMus = 0xc096df9d_fb09_11d1_81b0_0060083316c1;
    IID_IMXF = 0xc096df9e_fb09_11d1_81b0_0060083316c1;
    IID_IAllocatorMXF = 0xa5f0d62c_b30f_11d2_b7a3_0060083316c1;
    IID_ISynthSinkDMus = 0x1f476974_679b_11d2_8f7d_00c04fbf8fef;
    CLSID_MiniportDriverDMusUART = 0xd3f0ce1c_fffc_11d1_81b0_0060083316c1;
    CLSID_MiniportDriverDMusUARTCapture = 0xd3f0ce1d_fffc_11d1_81b0_0060083316c1;
    // Data formats (ksmedia.h, dmksctrl.h).
    KSDATAFORMAT_TYPE_MUSIC = 0xe725d360_62cc_11cf_a5d6_28db04c10000;
    KSDATAFORMAT_SUBTYPE_MIDI = 0x1d262760_e957_11cf_a5d6_28db04c10000;
    KSDATAFORMAT_SUBTYPE_DIRECTMUSIC = 0x1a82f8bc_3f8b_11d2_b774_0060083316c1;
    KSDATAFORMAT_SPECIFIER_NONE = 0x0f6417d6_c318_11d0_a43f_00a0c9223196;
    /// ksmedia.h: the data range of a MIDI bridge pin (a physical MIDI connection).
    KSDATAFORMAT_SUBTYPE_MIDI_BUS = 0x2ca15fa0_6cfe_11cf_a5d6_28db04c10000;
    /// guiddef.h / cguid.h: the null GUID (ks.h's `KSDATAFORMAT_*_WILDCARD` are this value).
    GUID_NULL = 0x00000000_0000_0000_0000_000000000000;
    KSMUSIC_TECHNOLOGY_PORT = 0x86c92e60_62e8_11cf_a5d6_28db04c10000;
    // Pin names, node types, property sets.
    KSAUDFNAME_MIDI = 0x185fedf8_9905_11d1_95a9_00c04fb925d3;
    KSAUDFNAME_DMUSIC_MPU_OUT = 0xa4df0eb5_bac9_11d2_b7a8_0060083316c1;
    KSAUDFNAME_DMUSIC_MPU_IN = 0xb2ec0a7d_bac9_11d2_b7a8_0060083316c1;
    KSNODETYPE_DMSYNTH = 0x94824f88_6183_11d2_8f7a_00c04fbf8fef;
    KSNODETYPE_DMSYNTH_CAPS = 0xbca2a2f1_93c6_11d2_ba1d_0000f875ac12;
    KSPROPSETID_Synth = 0xfedfae25_e46e_11d1_aace_0000f875ac12;
    KSPROPSETID_SynthClock = 0xfedfae26_e46e_11d1_aace_0000f875ac12;
    // Filter categories (ks.h, ksmedia.h).
    KSCATEGORY_AUDIO = 0x6994ad04_93ef_11d0_a3cc_00a0c9223196;
    KSCATEGORY_RENDER = 0x65e8773e_8f56_11d0_a3b9_00a0c9223196;
    KSCATEGORY_CAPTURE = 0x65e8773d_8f56_11d0_a3b9_00a0c9223196;
    // Pin categories for bridge pins (ksmedia.h).
    KSCATEGORY_WDMAUD_USE_PIN_NAME = 0x47a4fa20_a251_11d1_a050_0000f8004788;
    KSNODETYPE_SYNTHESIZER = 0xdff220f3_f70f_11d0_b917_00a0c9223196;
}

/// ks.h `KSDATAFORMAT_TYPE_WILDCARD`, `KSDATAFORMAT_SUBTYPE_WILDCARD`,
/// `KSDATAFORMAT_SPECIFIER_WILDCARD`: GUID_NULL in a data range matches any value.
pub const KSDATAFORMAT_TYPE_WILDCARD: GUID = GUID_NULL;
pub const KSDATAFORMAT_SUBTYPE_WILDCARD: GUID = GUID_NULL;
pub const KSDATAFORMAT_SPECIFIER_WILDCARD: GUID = GUID_NULL;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_u128_matches_the_registry_form() {
        let g = CLSID_PortDMus;
        assert_eq!(g.Data1, 0xb7902fe9);
        assert_eq!(g.Data2, 0xfb0a);
        assert_eq!(g.Data3, 0x11d1);
        assert_eq!(g.Data4, [0x81, 0xb0, 0x00, 0x60, 0x08, 0x33, 0x16, 0xc1]);
        assert_eq!(std::format!("{g}"), "b7902fe9-fb0a-11d1-81b0-0060083316c1");
        assert_eq!(GUID::from_u128(g.to_u128()), g);
    }

    #[test]
    fn every_guid_is_distinct() {
        for (i, (a, ga)) in ALL_GUIDS.iter().enumerate() {
            for (b, gb) in &ALL_GUIDS[i + 1..] {
                assert!(!ga.const_eq(gb), "{a} and {b} share a value");
            }
        }
    }
}
