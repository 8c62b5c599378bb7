//! The DirectMusic synth property set (dmusprop.h): KSPROPSETID_Synth's property ids and the
//! structures its values use.
//!
//! **Not proved by the mingw-w64 cross-build**: mingw-w64 ships no dmusprop.h, so bindgen has
//! nothing to compare these with (as for the GUIDs listed in README, "The ABI and its proof").
//! They are checked against Microsoft's documentation (the SYNTHCAPS, SYNTH_PORTPARAMS and
//! SYNTH_STATS pages give the field lists; every field is a DWORD, LONG, GUID or WCHAR, so the
//! layout has no padding: asserted below) and docs/dmus-contract.md section 2 (the property ids). The
//! flag values are those of the user-mode twins in dmusicc.h (`DMUS_PC_*`,
//! `DMUS_PORTPARAMS_*`, `DMUS_SYNTHSTATS_*`, `DMUS_EFFECT_*`), which the documentation says the
//! kernel structures mirror; the cross-build does not scan numeric `#define`s, so that equality
//! is checked by eye (mingw-w64 dmusicc.h), not by the build. The WDK build, whose headers do have
//! dmusprop.h, could add a check_struct! for each (see `layout`).

use super::GUID;
use core::mem::size_of;

/// dmusprop.h `KSPROPERTY_SYNTH_*` (the `KSPROPERTY_SYNTH` enum): ids in KSPROPSETID_Synth.
pub const KSPROPERTY_SYNTH_VOLUME: u32 = 0;
pub const KSPROPERTY_SYNTH_VOLUMEBOOST: u32 = 1;
pub const KSPROPERTY_SYNTH_CAPS: u32 = 2;
pub const KSPROPERTY_SYNTH_PORTPARAMETERS: u32 = 3;
pub const KSPROPERTY_SYNTH_CHANNELGROUPS: u32 = 4;
pub const KSPROPERTY_SYNTH_VOICEPRIORITY: u32 = 5;
pub const KSPROPERTY_SYNTH_LATENCYCLOCK: u32 = 6;
pub const KSPROPERTY_SYNTH_RUNNINGSTATS: u32 = 7;

/// dmusprop.h `SYNTH_PC_*`: SYNTHCAPS::Flags.
pub const SYNTH_PC_DLS: u32 = 0x0000_0001;
pub const SYNTH_PC_EXTERNAL: u32 = 0x0000_0002;
pub const SYNTH_PC_SOFTWARESYNTH: u32 = 0x0000_0004;
pub const SYNTH_PC_MEMORYSIZEFIXED: u32 = 0x0000_0008;
pub const SYNTH_PC_GMINHARDWARE: u32 = 0x0000_0010;
pub const SYNTH_PC_GSINHARDWARE: u32 = 0x0000_0020;
pub const SYNTH_PC_XGINHARDWARE: u32 = 0x0000_0040;
pub const SYNTH_PC_DLS2: u32 = 0x0000_0200;
/// dmusprop.h: 0x40000000, as DMUS_PC_REVERB in dmusicc.h (0x40 is SYNTH_PC_XGINHARDWARE).
pub const SYNTH_PC_REVERB: u32 = 0x4000_0000;
/// SYNTHCAPS::MemorySize when the synth uses system memory without limit.
pub const SYNTH_PC_SYSTEMMEMORY: u32 = 0x7FFF_FFFF;

/// dmusprop.h `SYNTH_EFFECT_*`: SYNTHCAPS::EffectFlags, SYNTH_PORTPARAMS::EffectsFlags.
pub const SYNTH_EFFECT_NONE: u32 = 0x0;
pub const SYNTH_EFFECT_REVERB: u32 = 0x1;
pub const SYNTH_EFFECT_CHORUS: u32 = 0x2;
pub const SYNTH_EFFECT_DELAY: u32 = 0x4;

/// dmusprop.h `SYNTH_PORTPARAMS_*`: SYNTH_PORTPARAMS::ValidParams.
pub const SYNTH_PORTPARAMS_VOICES: u32 = 0x01;
pub const SYNTH_PORTPARAMS_CHANNELGROUPS: u32 = 0x02;
pub const SYNTH_PORTPARAMS_AUDIOCHANNELS: u32 = 0x04;
pub const SYNTH_PORTPARAMS_SAMPLERATE: u32 = 0x08;
pub const SYNTH_PORTPARAMS_EFFECTS: u32 = 0x20;
pub const SYNTH_PORTPARAMS_SHARE: u32 = 0x40;

/// dmusprop.h `SYNTH_STATS_*`: SYNTH_STATS::ValidStats.
pub const SYNTH_STATS_VOICES: u32 = 0x01;
pub const SYNTH_STATS_TOTAL_CPU: u32 = 0x02;
pub const SYNTH_STATS_CPU_PER_VOICE: u32 = 0x04;
pub const SYNTH_STATS_LOST_NOTES: u32 = 0x08;
pub const SYNTH_STATS_PEAK_VOLUME: u32 = 0x10;
pub const SYNTH_STATS_FREE_MEMORY: u32 = 0x20;

/// Length of SYNTHCAPS::Description in WCHARs (dmusicc.h `DMUS_MAX_DESCRIPTION`).
pub const SYNTHCAPS_DESCRIPTION_LEN: usize = 128;

/// dmusprop.h `SYNTHCAPS`: KSPROPERTY_SYNTH_CAPS's value. 296 bytes, align 4.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SYNTHCAPS {
    /// The class id of the synth's miniport.
    pub Guid: GUID,
    /// `SYNTH_PC_*`.
    pub Flags: u32,
    pub MemorySize: u32,
    pub MaxChannelGroups: u32,
    /// `u32::MAX` (`(ULONG)-1`) when the driver cannot give a number.
    pub MaxVoices: u32,
    /// `u32::MAX` when the driver cannot give a number.
    pub MaxAudioChannels: u32,
    /// `SYNTH_EFFECT_*`.
    pub EffectFlags: u32,
    /// NUL-terminated UTF-16.
    pub Description: [u16; SYNTHCAPS_DESCRIPTION_LEN],
}

/// dmusprop.h `SYNTH_PORTPARAMS`: KSPROPERTY_SYNTH_PORTPARAMETERS's instance and value.
/// 28 bytes, align 4.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SYNTH_PORTPARAMS {
    /// `SYNTH_PORTPARAMS_*`: which of the following fields are meaningful.
    pub ValidParams: u32,
    pub Voices: u32,
    pub ChannelGroups: u32,
    pub AudioChannels: u32,
    pub SampleRate: u32,
    /// `SYNTH_EFFECT_*`.
    pub EffectsFlags: u32,
    /// A BOOL-sized DWORD.
    pub Share: u32,
}

/// dmusprop.h `SYNTH_STATS`: KSPROPERTY_SYNTH_RUNNINGSTATS's value. 28 bytes, align 4.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SYNTH_STATS {
    /// `SYNTH_STATS_*`: which of the following fields are meaningful.
    pub ValidStats: u32,
    pub Voices: u32,
    pub TotalCPU: u32,
    pub CPUPerVoice: u32,
    pub LostNotes: u32,
    pub FreeMemory: u32,
    /// Decibels times 100.
    pub PeakVolume: i32,
}

// No padding anywhere: the size is the sum of the fields' sizes (what the documented field lists
// give, with C's natural alignment).
const _: () = {
    assert!(size_of::<SYNTHCAPS>() == 16 + 6 * 4 + 2 * SYNTHCAPS_DESCRIPTION_LEN);
    assert!(core::mem::align_of::<SYNTHCAPS>() == 4);
    assert!(size_of::<SYNTH_PORTPARAMS>() == 7 * 4);
    assert!(size_of::<SYNTH_STATS>() == 7 * 4);
};
