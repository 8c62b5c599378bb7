//! The hand-written ABI, proved against the real headers at compile time.
//!
//! Compiled into every Windows-target build (build.rs refuses one without a header source):
//! `sys` is bindgen's output for build/headers.h over the mingw-w64 DDK headers (Linux
//! cross-build) or the WDK (Windows host). For every struct and union in `abi` this module
//! asserts the same size, the same alignment and the same offset for every field, and destructures
//! our type exhaustively so that a field added on our side without a check does not compile;
//! vtables are proved where they are declared (`interface!`). Constants are compared by value,
//! GUIDs and NTSTATUS codes against the values written in the headers' text (`values`).
//! Any mismatch is a compile error naming the type and field.

#![allow(unused_unsafe)] // the field-size accessors are `unsafe` for the union paths only

use super::*;

use core::mem::{align_of, offset_of, size_of};

#[allow(
    dead_code,
    unused_imports,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    unnecessary_transmutes,
    clashing_extern_declarations,
    clippy::all
)]
pub(crate) mod sys {
    include!(concat!(env!("OUT_DIR"), "/headers.rs"));
}

/// GUID and NTSTATUS values read from the text of every header clang included.
mod values {
    include!(concat!(env!("OUT_DIR"), "/header_values.rs"));
}

/// `check_struct!(Ours => sys::Theirs { field, field @ path.in.theirs, ... })`: size, alignment,
/// each field's offset and size (a field with `@` sits inside anonymous unions/structs on the C
/// side), and an exhaustive destructuring of ours.
macro_rules! check_struct {
    ($ours:ident => $sys:ty { $($field:ident $(@ $($path:ident).+)?),* $(,)? }) => {
        const _: () = {
            assert!(size_of::<$ours>() == size_of::<$sys>(), concat!(stringify!($ours), ": size differs from the header"));
            assert!(align_of::<$ours>() == align_of::<$sys>(), concat!(stringify!($ours), ": alignment differs from the header"));
            $(check_struct!(@field $ours, $sys, $field $(, $($path).+)?);)*
            #[allow(dead_code)]
            fn exhaustive(ours: $ours) {
                let $ours { $($field: _),* } = ours;
            }
        };
    };
    (@field $ours:ident, $sys:ty, $field:ident) => {
        check_struct!(@field $ours, $sys, $field, $field);
    };
    (@field $ours:ident, $sys:ty, $field:ident, $($path:ident).+) => {
        assert!(
            offset_of!($ours, $field) == offset_of!($sys, $($path).+),
            concat!(stringify!($ours), "::", stringify!($field), ": offset differs from the header")
        );
        assert!(
            // SAFETY: never called; the closures only name the fields' types (a C-side path may
            // cross a union, whose fields Rust only reads in `unsafe`).
            unsafe { field_size(|o: $ours| o.$field) == field_size(|t: $sys| t.$($path).+) },
            concat!(stringify!($ours), "::", stringify!($field), ": size differs from the header")
        );
    };
}

/// The size of the field a (never called) accessor returns: how a field's type is named in a
/// constant expression.
const fn field_size<T, F>(_: fn(T) -> F) -> usize {
    size_of::<F>()
}

/// `check_union!(Ours => sys::Theirs { member, ... })`: size, alignment, and each member's
/// offset and size (a union cannot be destructured exhaustively).
macro_rules! check_union {
    ($ours:ident => $sys:ty { $($field:ident),* $(,)? }) => {
        const _: () = {
            assert!(size_of::<$ours>() == size_of::<$sys>(), concat!(stringify!($ours), ": size differs from the header"));
            assert!(align_of::<$ours>() == align_of::<$sys>(), concat!(stringify!($ours), ": alignment differs from the header"));
            $(assert!(
                offset_of!($ours, $field) == offset_of!($sys, $field),
                concat!(stringify!($ours), "::", stringify!($field), ": offset differs from the header")
            );
            assert!(
                // SAFETY: never called; the closures only name the members' types.
                unsafe { field_size(|o: $ours| o.$field) == field_size(|t: $sys| t.$field) },
                concat!(stringify!($ours), "::", stringify!($field), ": size differs from the header")
            );)*
        };
    };
}

/// An opaque type: only its size and alignment are ours to match.
macro_rules! check_opaque {
    ($ours:ident => $sys:ty) => {
        const _: () = {
            assert!(
                size_of::<$ours>() == size_of::<$sys>(),
                concat!(stringify!($ours), ": size differs from the header")
            );
            assert!(
                align_of::<$ours>() == align_of::<$sys>(),
                concat!(stringify!($ours), ": alignment differs from the header")
            );
        };
    };
}

/// A scalar type alias or constant: same size, and for constants the same value.
macro_rules! check_scalar {
    ($($ours:ident => $sys:ty),* $(,)?) => {
        $(const _: () = assert!(size_of::<$ours>() == size_of::<$sys>(), concat!(stringify!($ours), ": size differs from the header"));)*
    };
}
macro_rules! check_const {
    ($($name:ident),* $(,)?) => {
        $(const _: () = assert!($name as i128 == sys::$name as i128, concat!(stringify!($name), ": value differs from the header"));)*
    };
}

// --- dmusicks.h -------------------------------------------------------------------------------
check_struct!(DMUS_KERNEL_EVENT => sys::DMUS_KERNEL_EVENT {
    bReserved, cbStruct, cbEvent, usChannelGroup, usFlags, ullPresTime100ns, ullBytePosition,
    pNextEvt, uData,
});
check_union!(DMUS_KERNEL_EVENT_uData => sys::_DMUS_KERNEL_EVENT__bindgen_ty_1 {
    abData, pbData, pPackageEvt,
});
check_scalar!(REFERENCE_TIME => sys::REFERENCE_TIME, DMUS_STREAM_TYPE => sys::DMUS_STREAM_TYPE);
check_const!(
    DMUS_STREAM_MIDI_INVALID,
    DMUS_STREAM_MIDI_RENDER,
    DMUS_STREAM_MIDI_CAPTURE,
    DMUS_STREAM_WAVE_SINK
);
// The header spells it as a 64-bit literal that bindgen types as i64; compare the bits.
const _: () = assert!(
    DONT_HOLD_FOR_SEQUENCING == sys::DONT_HOLD_FOR_SEQUENCING as u64,
    "DONT_HOLD_FOR_SEQUENCING: value differs from the header"
);

// --- guiddef.h, ntdef.h, wdm.h ----------------------------------------------------------------
check_struct!(GUID => sys::GUID { Data1, Data2, Data3, Data4 });
check_scalar!(NTSTATUS => sys::NTSTATUS, KIRQL => sys::KIRQL, KSPIN_LOCK => sys::KSPIN_LOCK);
check_struct!(UNICODE_STRING => sys::UNICODE_STRING { Length, MaximumLength, Buffer });
check_opaque!(KDPC => sys::KDPC);
check_opaque!(KTIMER => sys::KTIMER);
check_scalar!(POOL_TYPE => sys::POOL_TYPE, CM_RESOURCE_TYPE => sys::CM_RESOURCE_TYPE);
check_const!(NonPagedPool, NonPagedPoolNx);
check_const!(PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL, HIGH_LEVEL);
// dpfilter.h (DPFLTR_TYPE and the levels DbgPrintEx takes).
check_const!(
    DPFLTR_IHVAUDIO_ID,
    DPFLTR_ERROR_LEVEL,
    DPFLTR_WARNING_LEVEL,
    DPFLTR_TRACE_LEVEL,
    DPFLTR_INFO_LEVEL
);
check_const!(
    CmResourceTypePort,
    CmResourceTypeInterrupt,
    CmResourceTypeMemory
);
check_struct!(CM_PARTIAL_RESOURCE_DESCRIPTOR => sys::CM_PARTIAL_RESOURCE_DESCRIPTOR {
    Type, ShareDisposition, Flags, u,
});
check_union!(CM_PARTIAL_RESOURCE_DESCRIPTOR_u => sys::_CM_PARTIAL_RESOURCE_DESCRIPTOR__bindgen_ty_1 {
    Generic, Port, Interrupt, Memory,
});
check_struct!(CM_PARTIAL_RESOURCE_RANGE => sys::_CM_PARTIAL_RESOURCE_DESCRIPTOR__bindgen_ty_1__bindgen_ty_2 {
    Start, Length,
});
check_struct!(CM_PARTIAL_RESOURCE_INTERRUPT => sys::_CM_PARTIAL_RESOURCE_DESCRIPTOR__bindgen_ty_1__bindgen_ty_3 {
    Level, Vector, Affinity,
});
const _: () = {
    assert!(
        offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR, u)
            + offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR_u, Port)
            + offset_of!(CM_PARTIAL_RESOURCE_RANGE, Length)
            == offset_of!(sys::CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Port.Length)
    );
    assert!(
        offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR, u)
            + offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR_u, Interrupt)
            + offset_of!(CM_PARTIAL_RESOURCE_INTERRUPT, Vector)
            == offset_of!(sys::CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Interrupt.Vector)
    );
    assert!(
        offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR, u)
            + offset_of!(CM_PARTIAL_RESOURCE_INTERRUPT, Affinity)
            == offset_of!(sys::CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Interrupt.Affinity)
    );
    assert!(
        offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR, u)
            + offset_of!(CM_PARTIAL_RESOURCE_RANGE, Start)
            == offset_of!(sys::CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Memory.Start)
    );
};
check_union!(POWER_STATE => sys::POWER_STATE { SystemState, DeviceState });
check_scalar!(DEVICE_POWER_STATE => sys::DEVICE_POWER_STATE);
check_const!(
    PowerDeviceUnspecified,
    PowerDeviceD0,
    PowerDeviceD1,
    PowerDeviceD2,
    PowerDeviceD3
);

// --- ks.h, ksmedia.h --------------------------------------------------------------------------
check_scalar!(KSSTATE => sys::KSSTATE, KSPIN_DATAFLOW => sys::KSPIN_DATAFLOW, KSPIN_COMMUNICATION => sys::KSPIN_COMMUNICATION);
check_const!(KSSTATE_STOP, KSSTATE_ACQUIRE, KSSTATE_PAUSE, KSSTATE_RUN);
check_const!(KSPIN_DATAFLOW_IN, KSPIN_DATAFLOW_OUT);
check_const!(
    KSPIN_COMMUNICATION_NONE,
    KSPIN_COMMUNICATION_SINK,
    KSPIN_COMMUNICATION_SOURCE,
    KSPIN_COMMUNICATION_BOTH,
    KSPIN_COMMUNICATION_BRIDGE,
);
check_const!(
    KSPROPERTY_TYPE_GET,
    KSPROPERTY_TYPE_SET,
    KSPROPERTY_TYPE_BASICSUPPORT,
    KSPROPERTY_TYPE_TOPOLOGY,
);
check_const!(
    KSDATAFORMAT_ATTRIBUTES,
    KSDATARANGE_ATTRIBUTES,
    KSDATARANGE_REQUIRED_ATTRIBUTES,
);
check_struct!(KSPROPERTY_DESCRIPTION => sys::KSPROPERTY_DESCRIPTION {
    AccessFlags, DescriptionSize, PropTypeSet, MembersListCount, Reserved,
});
check_struct!(KSNODEPROPERTY => sys::KSNODEPROPERTY { Property, NodeId, Reserved });
// dmusprop.h (SYNTHCAPS, SYNTH_PORTPARAMS, SYNTH_STATS, KSPROPERTY_SYNTH_*): mingw-w64 has no
// such header; see `synth` for what they are checked against instead.
check_struct!(KSIDENTIFIER => sys::KSIDENTIFIER {
    Set @ __bindgen_anon_1.__bindgen_anon_1.Set,
    Id @ __bindgen_anon_1.__bindgen_anon_1.Id,
    Flags @ __bindgen_anon_1.__bindgen_anon_1.Flags,
});
check_struct!(KSDATAFORMAT => sys::KSDATAFORMAT {
    FormatSize @ __bindgen_anon_1.FormatSize,
    Flags @ __bindgen_anon_1.Flags,
    SampleSize @ __bindgen_anon_1.SampleSize,
    Reserved @ __bindgen_anon_1.Reserved,
    MajorFormat @ __bindgen_anon_1.MajorFormat,
    SubFormat @ __bindgen_anon_1.SubFormat,
    Specifier @ __bindgen_anon_1.Specifier,
});
check_opaque!(KSDATARANGE => sys::KSDATARANGE);
check_struct!(KSDATARANGE_MUSIC => sys::KSDATARANGE_MUSIC {
    DataRange, Technology, Channels, Notes, ChannelMask,
});
check_struct!(KSPIN_DESCRIPTOR => sys::KSPIN_DESCRIPTOR {
    InterfacesCount, Interfaces, MediumsCount, Mediums, DataRangesCount, DataRanges, DataFlow,
    Communication, Category, Name,
    ConstrainedDataRangesCount @ __bindgen_anon_1.__bindgen_anon_1.ConstrainedDataRangesCount,
    ConstrainedDataRanges @ __bindgen_anon_1.__bindgen_anon_1.ConstrainedDataRanges,
});

// --- portcls.h --------------------------------------------------------------------------------
check_struct!(PCPROPERTY_ITEM => sys::PCPROPERTY_ITEM { Set, Id, Flags, Handler });
check_struct!(PCPROPERTY_REQUEST => sys::PCPROPERTY_REQUEST {
    MajorTarget, MinorTarget, Node, PropertyItem, Verb, InstanceSize, Instance, ValueSize, Value, Irp,
});
check_struct!(PCAUTOMATION_TABLE => sys::PCAUTOMATION_TABLE {
    PropertyItemSize, PropertyCount, Properties, MethodItemSize, MethodCount, Methods,
    EventItemSize, EventCount, Events, Reserved,
});
check_struct!(PCCONNECTION_DESCRIPTOR => sys::PCCONNECTION_DESCRIPTOR {
    FromNode, FromNodePin, ToNode, ToNodePin,
});
check_struct!(PCPIN_DESCRIPTOR => sys::PCPIN_DESCRIPTOR {
    MaxGlobalInstanceCount, MaxFilterInstanceCount, MinFilterInstanceCount, AutomationTable,
    KsPinDescriptor,
});
check_struct!(PCNODE_DESCRIPTOR => sys::PCNODE_DESCRIPTOR { Flags, AutomationTable, Type, Name });
check_struct!(PCFILTER_DESCRIPTOR => sys::PCFILTER_DESCRIPTOR {
    Version, AutomationTable, PinSize, PinCount, Pins, NodeSize, NodeCount, Nodes,
    ConnectionCount, Connections, CategoryCount, Categories,
});
check_scalar!(
    PCPFNSTARTDEVICE => sys::PCPFNSTARTDEVICE,
    PDRIVER_ADD_DEVICE => sys::PDRIVER_ADD_DEVICE,
    PCPFNPROPERTY_HANDLER => sys::PCPFNPROPERTY_HANDLER,
);

// The imports' prototypes: bindgen's declarations coerced to ours would differ only in pointee
// types, so the parameter and return types are compared by size, position by position.
macro_rules! check_import {
    ($name:ident($($ours:ty => $theirs:ty),*) -> $ret:ty => $sret:ty) => {
        const _: () = {
            $(assert!(size_of::<$ours>() == size_of::<$theirs>(), concat!(stringify!($name), ": a parameter differs from the header"));)*
            assert!(size_of::<$ret>() == size_of::<$sret>(), concat!(stringify!($name), ": the return type differs from the header"));
            // Naming both functions proves they exist with these names on both sides.
            let _ = $name as unsafe extern "system" fn($($ours),*) -> $ret;
            let _ = sys::$name as unsafe extern "C" fn($($theirs),*) -> $sret;
        };
    };
}
check_import!(PcInitializeAdapterDriver(
    PDRIVER_OBJECT => sys::PDRIVER_OBJECT,
    *mut core::ffi::c_void => sys::PUNICODE_STRING,
    PDRIVER_ADD_DEVICE => sys::PDRIVER_ADD_DEVICE
) -> NTSTATUS => sys::NTSTATUS);
check_import!(PcAddAdapterDevice(
    PDRIVER_OBJECT => sys::PDRIVER_OBJECT,
    PDEVICE_OBJECT => sys::PDEVICE_OBJECT,
    PCPFNSTARTDEVICE => sys::PCPFNSTARTDEVICE,
    u32 => sys::ULONG,
    u32 => sys::ULONG
) -> NTSTATUS => sys::NTSTATUS);

check_import!(PcNewPort(
    *mut PPORT => *mut sys::PPORT,
    REFIID => *const sys::IID
) -> NTSTATUS => sys::NTSTATUS);
check_import!(PcNewServiceGroup(
    *mut PSERVICEGROUP => *mut sys::PSERVICEGROUP,
    PUNKNOWN => sys::PUNKNOWN
) -> NTSTATUS => sys::NTSTATUS);
check_import!(PcNewInterruptSync(
    *mut PINTERRUPTSYNC => *mut sys::PINTERRUPTSYNC,
    PUNKNOWN => sys::PUNKNOWN,
    PRESOURCELIST => sys::PRESOURCELIST,
    u32 => sys::ULONG,
    INTERRUPTSYNCMODE => sys::INTERRUPTSYNCMODE
) -> NTSTATUS => sys::NTSTATUS);
check_import!(PcRegisterSubdevice(
    PDEVICE_OBJECT => sys::PDEVICE_OBJECT,
    *const u16 => sys::PWCHAR,
    PUNKNOWN => sys::PUNKNOWN
) -> NTSTATUS => sys::NTSTATUS);
check_scalar!(
    INTERRUPTSYNCMODE => sys::INTERRUPTSYNCMODE,
    PINTERRUPTSYNCROUTINE => sys::PINTERRUPTSYNCROUTINE,
);
check_const!(
    InterruptSyncModeNormal,
    InterruptSyncModeAll,
    InterruptSyncModeRepeat
);

// --- values written in the headers' text ------------------------------------------------------
const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `Some(true)` if `table` (read from the headers) gives `name` this value (among the values
/// it gives it), `Some(false)` if it gives it others, `None` if the headers do not define it.
const fn in_headers(table: &[(&str, &[u128])], name: &str, value: u128) -> Option<bool> {
    let mut i = 0;
    while i < table.len() {
        let (n, vals) = table[i];
        if str_eq(n, name) {
            let mut j = 0;
            while j < vals.len() {
                if vals[j] == value {
                    return Some(true);
                }
                j += 1;
            }
            return Some(false);
        }
        i += 1;
    }
    None
}

/// Every GUID of ours that the headers define has their value; returns how many were checked.
const fn check_guids() -> usize {
    let mut checked = 0;
    let mut i = 0;
    while i < ALL_GUIDS.len() {
        let (name, value) = ALL_GUIDS[i];
        match in_headers(values::GUIDS, name, value.to_u128()) {
            Some(true) => checked += 1,
            Some(false) => panic!("{}", name), // this GUID differs from the headers' value
            None => {}
        }
        i += 1;
    }
    checked
}

const fn check_statuses() -> usize {
    let mut checked = 0;
    let mut i = 0;
    while i < ALL_STATUSES.len() {
        let (name, value) = ALL_STATUSES[i];
        match in_headers(values::STATUSES, name, value as u32 as u128) {
            Some(true) => checked += 1,
            Some(false) => panic!("{}", name), // this NTSTATUS differs from the headers' value
            None => {}
        }
        i += 1;
    }
    checked
}

/// How many of our GUIDs and NTSTATUS codes the headers confirmed (the rest are absent from
/// the bound headers; see README, "The ABI and its proof").
pub(crate) const GUIDS_CHECKED: usize = check_guids();
pub(crate) const STATUSES_CHECKED: usize = check_statuses();

// A scan that finds nothing must not pass silently: every NTSTATUS we use is in ntstatus.h,
// and the mingw-w64 headers define at least these GUIDs of ours (counted when this was written).
const _: () = assert!(
    STATUSES_CHECKED == ALL_STATUSES.len(),
    "an NTSTATUS of ours is missing from the headers"
);
#[cfg(feature = "cross")]
const _: () = assert!(
    GUIDS_CHECKED >= MINGW_GUIDS,
    "fewer GUIDs confirmed by the mingw-w64 headers than before"
);
#[cfg(feature = "cross")]
const MINGW_GUIDS: usize = 24;
