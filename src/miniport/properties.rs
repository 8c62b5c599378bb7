//! The synth node's properties (KSPROPSETID_Synth), as pure handlers over a [`PropertyTarget`].
//!
//! Supported (KSNODETYPE_SYNTHESIZER: CAPS and PORTPARAMETERS are required; CHANNELGROUPS is
//! for a synth with several groups, and answering it with exactly 1 states that explicitly;
//! LATENCYCLOCK and RUNNINGSTATS are optional):
//!
//! | id | verbs | value | notes |
//! |---|---|---|---|
//! | CAPS (2) | GET | SYNTHCAPS | the target's caps |
//! | PORTPARAMETERS (3) | GET | SYNTH_PORTPARAMS | instance: the requested SYNTH_PORTPARAMS; value: what is used; STATUS_NOT_ALL_ASSIGNED when a valid field had to change |
//! | CHANNELGROUPS (4) | GET, SET | ULONG | SET accepts 1..=caps.MaxChannelGroups |
//! | LATENCYCLOCK (6) | GET | ULONGLONG | master clock + the target's latency, 100 ns |
//! | RUNNINGSTATS (7) | GET | SYNTH_STATS | the target's statistics |
//!
//! Every item also answers KSPROPERTY_TYPE_BASICSUPPORT with a KSPROPERTY_DESCRIPTION (or just
//! its AccessFlags for a ULONG-sized buffer).
//!
//! Buffer conventions (KS property requests, as PortCls passes them in PCPROPERTY_REQUEST):
//! - GET with ValueSize 0 is a size query: ValueSize := the value's size, STATUS_BUFFER_OVERFLOW;
//! - GET or SET with 0 < ValueSize < the value's size: STATUS_BUFFER_TOO_SMALL, ValueSize := 0;
//! - success: ValueSize := the bytes written (GET) or read (SET);
//! - an instance shorter than the property's descriptor data (PORTPARAMETERS):
//!   STATUS_INVALID_PARAMETER (the request is malformed, no output size would help);
//! - a value out of range (CHANNELGROUPS SET 0 or above the maximum): STATUS_INVALID_PARAMETER;
//! - a verb the item does not list: STATUS_INVALID_DEVICE_REQUEST; a property id or set not
//!   handled here: STATUS_NOT_FOUND.
//!
//! PortCls strips the request's KSNODEPROPERTY before calling a node's handler: `Instance` is what
//! follows it (for PORTPARAMETERS, the SYNTH_PORTPARAMS). KS sets KSPROPERTY_TYPE_TOPOLOGY in the
//! verb of a node request; it is ignored here.

use crate::abi::{
    GUID, GUID_NULL, KSIDENTIFIER, KSPROPERTY_DESCRIPTION, KSPROPERTY_SYNTH_CAPS,
    KSPROPERTY_SYNTH_CHANNELGROUPS, KSPROPERTY_SYNTH_LATENCYCLOCK, KSPROPERTY_SYNTH_PORTPARAMETERS,
    KSPROPERTY_SYNTH_RUNNINGSTATS, KSPROPERTY_TYPE_BASICSUPPORT, KSPROPERTY_TYPE_GET,
    KSPROPERTY_TYPE_SET, KSPROPERTY_TYPE_TOPOLOGY, KSPROPSETID_Synth, NTSTATUS, PCAUTOMATION_TABLE,
    PCPFNPROPERTY_HANDLER, PCPROPERTY_ITEM, PCPROPERTY_REQUEST, STATUS_BUFFER_OVERFLOW,
    STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER,
    STATUS_NOT_ALL_ASSIGNED, STATUS_NOT_FOUND, STATUS_SUCCESS, SYNTH_EFFECT_NONE, SYNTH_PORTPARAMS,
    SYNTH_PORTPARAMS_CHANNELGROUPS, SYNTH_PORTPARAMS_EFFECTS, SYNTH_PORTPARAMS_VOICES, SYNTH_STATS,
    SYNTHCAPS,
};
use crate::render::SCHEDULE_PREFETCH_100NS;
use core::mem::size_of;
use core::ptr;

use super::bytes::Plain;

/// What the properties read and change. The miniport implements it; its trampoline
/// (`miniport.rs`, `synth_property`) answers every request from MajorTarget, pin-instance
/// requests (MinorTarget set) included: the synth node is the device's, not a stream's.
pub trait PropertyTarget {
    /// KSPROPERTY_SYNTH_CAPS of synth node `node` (the render node and the capture node answer
    /// with different GUIDs). `MaxChannelGroups` also bounds CHANNELGROUPS and PORTPARAMETERS,
    /// `MaxVoices` (unless `u32::MAX`) PORTPARAMETERS' voices, `EffectFlags` its effects.
    fn synth_caps(&self, node: u32) -> SYNTHCAPS;
    /// The master clock's time (100 ns), or `None` when there is no clock to read
    /// (LATENCYCLOCK then fails with STATUS_INVALID_DEVICE_REQUEST).
    fn master_time(&self) -> Option<i64>;
    /// The minimum guaranteed latency added to the master time for LATENCYCLOCK (100 ns).
    /// Default: [`DEFAULT_LATENCY_100NS`].
    fn latency_100ns(&self) -> u64 {
        DEFAULT_LATENCY_100NS
    }
    /// The active channel groups (KSPROPERTY_SYNTH_CHANNELGROUPS GET).
    fn channel_groups(&self) -> u32;
    /// KSPROPERTY_SYNTH_CHANNELGROUPS SET, called with a value already checked to be in
    /// 1..=synth_caps().MaxChannelGroups; its status is the request's.
    fn set_channel_groups(&self, groups: u32) -> NTSTATUS;
    /// KSPROPERTY_SYNTH_RUNNINGSTATS, or `None` when the target keeps none
    /// (STATUS_INVALID_DEVICE_REQUEST).
    fn running_stats(&self) -> Option<SYNTH_STATS>;
}

/// LATENCYCLOCK's default latency: the render prefetch. The port hands an event over
/// SCHEDULE_PREFETCH before its presentation time, so an event stamped at least that far after
/// "now" reaches the stream's sequencer before it is due: the earliest time an application
/// can schedule for and be played on time.
pub const DEFAULT_LATENCY_100NS: u64 = SCHEDULE_PREFETCH_100NS;

/// The property ids handled, in the order of [`property_items`].
pub const PROPERTY_IDS: [u32; PROPERTY_COUNT] = [
    KSPROPERTY_SYNTH_CAPS,
    KSPROPERTY_SYNTH_PORTPARAMETERS,
    KSPROPERTY_SYNTH_CHANNELGROUPS,
    KSPROPERTY_SYNTH_LATENCYCLOCK,
    KSPROPERTY_SYNTH_RUNNINGSTATS,
];
/// How many property items the synth node's table has.
pub const PROPERTY_COUNT: usize = 5;

/// The verbs (`KSPROPERTY_TYPE_*`) property `id` of KSPROPSETID_Synth supports here, or `None`.
pub const fn access_flags(id: u32) -> Option<u32> {
    const GET: u32 = KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_BASICSUPPORT;
    match id {
        KSPROPERTY_SYNTH_CAPS
        | KSPROPERTY_SYNTH_PORTPARAMETERS
        | KSPROPERTY_SYNTH_LATENCYCLOCK
        | KSPROPERTY_SYNTH_RUNNINGSTATS => Some(GET),
        KSPROPERTY_SYNTH_CHANNELGROUPS => Some(GET | KSPROPERTY_TYPE_SET),
        _ => None,
    }
}

/// The value size of property `id` (what a size query answers), or `None`.
pub const fn value_size(id: u32) -> Option<u32> {
    let n = match id {
        KSPROPERTY_SYNTH_CAPS => size_of::<SYNTHCAPS>(),
        KSPROPERTY_SYNTH_PORTPARAMETERS => size_of::<SYNTH_PORTPARAMS>(),
        KSPROPERTY_SYNTH_CHANNELGROUPS => size_of::<u32>(),
        KSPROPERTY_SYNTH_LATENCYCLOCK => size_of::<u64>(),
        KSPROPERTY_SYNTH_RUNNINGSTATS => size_of::<SYNTH_STATS>(),
        _ => return None,
    };
    Some(n as u32)
}

/// The property items with `handler` (the miniport's trampoline) in each: generic-free, so that
/// the miniport can build a `static` from it.
/// ```ignore
/// static SYNTH_ITEMS: [PCPROPERTY_ITEM; PROPERTY_COUNT] = property_items(Some(synth_property));
/// static SYNTH_TABLE: PCAUTOMATION_TABLE = automation_table(&SYNTH_ITEMS);
/// ```
pub const fn property_items(handler: PCPFNPROPERTY_HANDLER) -> [PCPROPERTY_ITEM; PROPERTY_COUNT] {
    let empty = PCPROPERTY_ITEM {
        Set: &KSPROPSETID_Synth,
        Id: 0,
        Flags: 0,
        Handler: None,
    };
    let mut items = [empty; PROPERTY_COUNT];
    let mut i = 0;
    while i < PROPERTY_COUNT {
        let id = PROPERTY_IDS[i];
        items[i] = PCPROPERTY_ITEM {
            Set: &KSPROPSETID_Synth,
            Id: id,
            Flags: match access_flags(id) {
                Some(f) => f,
                None => 0,
            },
            Handler: handler,
        };
        i += 1;
    }
    items
}

/// The synth node's automation table over `items` (properties only).
pub const fn automation_table(
    items: &'static [PCPROPERTY_ITEM; PROPERTY_COUNT],
) -> PCAUTOMATION_TABLE {
    PCAUTOMATION_TABLE {
        PropertyItemSize: size_of::<PCPROPERTY_ITEM>() as u32,
        PropertyCount: PROPERTY_COUNT as u32,
        Properties: items.as_ptr(),
        MethodItemSize: 0,
        MethodCount: 0,
        Methods: ptr::null(),
        EventItemSize: 0,
        EventCount: 0,
        Events: ptr::null(),
        Reserved: 0,
    }
}

/// One property request, safely: which property, which verb, the instance bytes (after the
/// KSNODEPROPERTY) and the value buffer. The handler records the ValueSize to report (0 unless
/// it says otherwise). The node and the pin instance are not part of it: every request is the
/// synth node's (see [`PropertyTarget`]).
#[derive(Debug)]
pub struct PropertyRequestView<'a> {
    set: GUID,
    id: u32,
    /// The node the request is for (PCPROPERTY_REQUEST::Node).
    node: u32,
    verb: u32,
    instance: &'a [u8],
    value: &'a mut [u8],
    value_size: u32,
}

impl<'a> PropertyRequestView<'a> {
    /// A request for property (`set`, `id`) with `verb`.
    pub fn new(set: GUID, id: u32, verb: u32, instance: &'a [u8], value: &'a mut [u8]) -> Self {
        PropertyRequestView {
            set,
            id,
            node: 0,
            verb,
            instance,
            value,
            value_size: 0,
        }
    }

    /// The same request, for node `node` (0 unless said).
    pub(crate) fn for_node(mut self, node: u32) -> Self {
        self.node = node;
        self
    }

    /// What PCPROPERTY_REQUEST::ValueSize must say when the handler returns: bytes written or
    /// read, the size needed (after a size query), or 0.
    pub fn value_size(&self) -> u32 {
        self.value_size
    }

    /// A GET answer: size query, short buffer, or `make`'s value and status.
    fn answer<T: Plain>(
        &mut self,
        make: impl FnOnce() -> Result<(T, NTSTATUS), NTSTATUS>,
    ) -> NTSTATUS {
        let need = size_of::<T>() as u32;
        if self.value.is_empty() {
            self.value_size = need;
            return STATUS_BUFFER_OVERFLOW;
        }
        if self.value.len() < need as usize {
            return STATUS_BUFFER_TOO_SMALL;
        }
        match make() {
            Ok((v, status)) => {
                self.value_size = v.write_to(self.value).unwrap_or(0);
                status
            }
            Err(status) => status,
        }
    }
}

/// Dispatches one request on the synth node to `target`.
pub fn handle<T: PropertyTarget + ?Sized>(
    target: &T,
    request: &mut PropertyRequestView<'_>,
) -> NTSTATUS {
    if request.set != KSPROPSETID_Synth {
        return STATUS_NOT_FOUND;
    }
    let Some(access) = access_flags(request.id) else {
        return STATUS_NOT_FOUND;
    };
    let verb = request.verb & !KSPROPERTY_TYPE_TOPOLOGY;
    if verb & access != verb || verb.count_ones() != 1 {
        return STATUS_INVALID_DEVICE_REQUEST;
    }
    match verb {
        KSPROPERTY_TYPE_BASICSUPPORT => basic_support(request, access),
        KSPROPERTY_TYPE_GET => get(target, request),
        _ => set(target, request), // KSPROPERTY_TYPE_SET: the only other verb `access` has
    }
}

fn basic_support(request: &mut PropertyRequestView<'_>, access: u32) -> NTSTATUS {
    let full = size_of::<KSPROPERTY_DESCRIPTION>() as u32;
    if request.value.is_empty() {
        request.value_size = full;
        return STATUS_BUFFER_OVERFLOW;
    }
    let written = if request.value.len() >= full as usize {
        KSPROPERTY_DESCRIPTION {
            AccessFlags: access,
            DescriptionSize: full,
            PropTypeSet: KSIDENTIFIER {
                Set: GUID_NULL,
                Id: 0,
                Flags: 0,
            },
            MembersListCount: 0,
            Reserved: 0,
        }
        .write_to(request.value)
    } else {
        // KS convention: a ULONG-sized buffer gets just the access flags.
        access.write_to(request.value)
    };
    match written {
        Some(n) => {
            request.value_size = n;
            STATUS_SUCCESS
        }
        None => STATUS_BUFFER_TOO_SMALL,
    }
}

fn get<T: PropertyTarget + ?Sized>(target: &T, request: &mut PropertyRequestView<'_>) -> NTSTATUS {
    match request.id {
        KSPROPERTY_SYNTH_CAPS => {
            let caps = target.synth_caps(request.node);
            request.answer(|| Ok((caps, STATUS_SUCCESS)))
        }
        KSPROPERTY_SYNTH_PORTPARAMETERS => {
            let requested = SYNTH_PORTPARAMS::read_from(request.instance);
            let caps = target.synth_caps(request.node);
            request.answer(|| {
                let requested = requested.ok_or(STATUS_INVALID_PARAMETER)?;
                Ok(port_parameters(&caps, &requested))
            })
        }
        KSPROPERTY_SYNTH_CHANNELGROUPS => {
            request.answer(|| Ok((target.channel_groups(), STATUS_SUCCESS)))
        }
        KSPROPERTY_SYNTH_LATENCYCLOCK => request.answer(|| {
            let now = target.master_time().ok_or(STATUS_INVALID_DEVICE_REQUEST)?;
            let t = (now.max(0) as u64).saturating_add(target.latency_100ns());
            Ok((t, STATUS_SUCCESS))
        }),
        _ => request.answer(|| {
            // KSPROPERTY_SYNTH_RUNNINGSTATS: the only other id with GET.
            let stats = target
                .running_stats()
                .ok_or(STATUS_INVALID_DEVICE_REQUEST)?;
            Ok((stats, STATUS_SUCCESS))
        }),
    }
}

fn set<T: PropertyTarget + ?Sized>(target: &T, request: &mut PropertyRequestView<'_>) -> NTSTATUS {
    // KSPROPERTY_SYNTH_CHANNELGROUPS: the only id with SET.
    let Some(groups) = u32::read_from(request.value) else {
        return STATUS_BUFFER_TOO_SMALL;
    };
    let max = target.synth_caps(request.node).MaxChannelGroups;
    if groups == 0 || groups > max {
        return STATUS_INVALID_PARAMETER;
    }
    let status = target.set_channel_groups(groups);
    if status >= 0 {
        request.value_size = size_of::<u32>() as u32;
    }
    status
}

/// The parameters this synth uses for `requested` (KSPROPERTY_SYNTH_PORTPARAMETERS), and
/// STATUS_NOT_ALL_ASSIGNED if a field the caller marked valid had to change:
/// - channel groups: `caps.MaxChannelGroups` at most, at least 1 (1 if not given);
/// - voices: `caps.MaxVoices` at most unless that is `u32::MAX` (no limit), at least 1; left as
///   is if not given;
/// - effects: only `caps.EffectFlags` (SYNTH_EFFECT_NONE if not given);
/// - audio channels, sample rate, share: no meaning for a MIDI port; returned as given.
///
/// The result marks channel groups and effects valid, plus whatever the caller marked.
pub fn port_parameters(
    caps: &SYNTHCAPS,
    requested: &SYNTH_PORTPARAMS,
) -> (SYNTH_PORTPARAMS, NTSTATUS) {
    let mut p = *requested;
    let mut changed = false;
    let valid = |bit: u32| requested.ValidParams & bit != 0;

    let max_groups = caps.MaxChannelGroups.max(1);
    if valid(SYNTH_PORTPARAMS_CHANNELGROUPS) {
        let g = p.ChannelGroups.clamp(1, max_groups);
        changed |= g != p.ChannelGroups;
        p.ChannelGroups = g;
    } else {
        p.ChannelGroups = 1;
    }

    if valid(SYNTH_PORTPARAMS_VOICES) {
        let max_voices = if caps.MaxVoices == u32::MAX {
            u32::MAX
        } else {
            caps.MaxVoices.max(1)
        };
        let v = p.Voices.clamp(1, max_voices);
        changed |= v != p.Voices;
        p.Voices = v;
    }

    if valid(SYNTH_PORTPARAMS_EFFECTS) {
        let e = p.EffectsFlags & caps.EffectFlags;
        changed |= e != p.EffectsFlags;
        p.EffectsFlags = e;
    } else {
        p.EffectsFlags = SYNTH_EFFECT_NONE;
    }

    p.ValidParams |= SYNTH_PORTPARAMS_CHANNELGROUPS | SYNTH_PORTPARAMS_EFFECTS;
    (
        p,
        if changed {
            STATUS_NOT_ALL_ASSIGNED
        } else {
            STATUS_SUCCESS
        },
    )
}

/// Builds the view of `*request` and runs `f` on it, then writes back ValueSize. The adapter the
/// miniport's PCPFNPROPERTY_HANDLER trampoline calls (after resolving its target from
/// MajorTarget/MinorTarget):
/// ```ignore
/// unsafe extern "system" fn synth_property(request: *mut PCPROPERTY_REQUEST) -> NTSTATUS {
///     // SAFETY: PortCls passes a valid request (see with_request_view).
///     unsafe { with_request_view(request, |view| handle(&*target, view)) }
/// }
/// ```
/// A null request or PropertyItem, or a null Instance/Value with a non-zero size, is refused
/// with STATUS_INVALID_PARAMETER without calling `f`.
///
/// # Safety
/// `request` is null or points at a PCPROPERTY_REQUEST that PortCls built for this call and
/// nobody else touches during it: `PropertyItem` null or valid (with a valid `Set`);
/// `Instance` valid for reads of `InstanceSize` bytes and `Value` for reads and writes of
/// `ValueSize` bytes (PortCls's IRP system buffer), the two not overlapping.
pub unsafe fn with_request_view(
    request: *mut PCPROPERTY_REQUEST,
    f: impl FnOnce(&mut PropertyRequestView<'_>) -> NTSTATUS,
) -> NTSTATUS {
    if request.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: non-null and valid for this call, not aliased (the caller's contract).
    let req = unsafe { &mut *request };
    if req.PropertyItem.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a valid PCPROPERTY_ITEM (the caller's contract).
    let item = unsafe { &*req.PropertyItem };
    if item.Set.is_null()
        || (req.Instance.is_null() && req.InstanceSize != 0)
        || (req.Value.is_null() && req.ValueSize != 0)
    {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a valid GUID (the caller's contract; checked non-null above).
    let set = unsafe { *item.Set };
    let instance: &[u8] = if req.InstanceSize == 0 {
        &[]
    } else {
        // SAFETY: non-null, readable for InstanceSize bytes, not written during the call.
        unsafe { core::slice::from_raw_parts(req.Instance.cast::<u8>(), req.InstanceSize as usize) }
    };
    let value: &mut [u8] = if req.ValueSize == 0 {
        &mut []
    } else {
        // SAFETY: non-null, readable and writable for ValueSize bytes, not overlapping Instance.
        unsafe { core::slice::from_raw_parts_mut(req.Value.cast::<u8>(), req.ValueSize as usize) }
    };
    let mut view =
        PropertyRequestView::new(set, item.Id, req.Verb, instance, value).for_node(req.Node);
    let status = f(&mut view);
    req.ValueSize = view.value_size();
    status
}
