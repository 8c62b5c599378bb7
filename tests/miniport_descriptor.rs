//! Host tests of `dmus_miniport::miniport`: the filter descriptor GetDescription returns,
//! DataRangeIntersection, and the synth node's property handlers.

use dmus_miniport::abi::win_abi;
use std::cell::Cell;
use std::collections::{BTreeSet, VecDeque};
use std::ffi::c_void;
use std::mem::size_of;
use std::ptr;

use dmus_miniport::abi::*;
use dmus_miniport::miniport::descriptor::*;
use dmus_miniport::miniport::intersection::{
    RESULT_FORMAT_SIZE, data_range_intersection, data_range_intersection_raw,
};
use dmus_miniport::miniport::properties::{self, *};

// ---- helpers ----------------------------------------------------------------------------------

fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
    // SAFETY: test-only view of a repr(C) value without padding (KSDATAFORMAT,
    // KSDATARANGE_MUSIC, SYNTH_* structures), all bytes initialised.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

fn read<T: Copy>(bytes: &[u8]) -> T {
    assert!(bytes.len() >= size_of::<T>());
    // SAFETY: length checked; the types read here accept any bit pattern.
    unsafe { ptr::read_unaligned(bytes.as_ptr().cast::<T>()) }
}

fn pins(f: &PCFILTER_DESCRIPTOR) -> &'static [PCPIN_DESCRIPTOR] {
    assert_eq!(f.PinSize as usize, size_of::<PCPIN_DESCRIPTOR>());
    // SAFETY: Pins points at a static array of PinCount descriptors.
    unsafe { std::slice::from_raw_parts(f.Pins, f.PinCount as usize) }
}

fn nodes(f: &PCFILTER_DESCRIPTOR) -> &'static [PCNODE_DESCRIPTOR] {
    assert_eq!(f.NodeSize as usize, size_of::<PCNODE_DESCRIPTOR>());
    // SAFETY: Nodes points at a static array of NodeCount descriptors.
    unsafe { std::slice::from_raw_parts(f.Nodes, f.NodeCount as usize) }
}

fn connections(f: &PCFILTER_DESCRIPTOR) -> &'static [PCCONNECTION_DESCRIPTOR] {
    // SAFETY: a static array of ConnectionCount connections.
    unsafe { std::slice::from_raw_parts(f.Connections, f.ConnectionCount as usize) }
}

/// A pin's data ranges as (header, music trailer if FormatSize says KSDATARANGE_MUSIC).
fn ranges(p: &PCPIN_DESCRIPTOR) -> Vec<(KSDATARANGE, Option<KSDATARANGE_MUSIC>)> {
    let k = &p.KsPinDescriptor;
    (0..k.DataRangesCount as usize)
        .map(|i| {
            // SAFETY: DataRanges holds DataRangesCount pointers to static ranges.
            let r = unsafe { *k.DataRanges.add(i) };
            // SAFETY: each points at a KSDATARANGE.
            let h = unsafe { *r };
            let music = (h.FormatSize as usize == size_of::<KSDATARANGE_MUSIC>())
                // SAFETY: FormatSize says the whole KSDATARANGE_MUSIC is there.
                .then(|| unsafe { *r.cast::<KSDATARANGE_MUSIC>() });
            (h, music)
        })
        .collect()
}

fn guid_at(p: *const GUID) -> Option<GUID> {
    // SAFETY: descriptor GUID pointers are null or point at statics.
    (!p.is_null()).then(|| unsafe { *p })
}

// ---- the descriptor ---------------------------------------------------------------------------

#[test]
fn filter_has_the_documented_shape() {
    let f = filter_descriptor();
    assert_eq!(f.PinCount as usize, PIN_COUNT);
    assert_eq!(f.NodeCount as usize, NODE_COUNT);
    assert!(f.AutomationTable.is_null());
    // SAFETY: CategoryCount GUIDs.
    let cats = unsafe { std::slice::from_raw_parts(f.Categories, f.CategoryCount as usize) };
    assert_eq!(
        cats,
        &[KSCATEGORY_AUDIO, KSCATEGORY_RENDER, KSCATEGORY_CAPTURE]
    );
    let n = nodes(f);
    assert_eq!(
        guid_at(n[NODE_SYNTH as usize].Type),
        Some(KSNODETYPE_SYNTHESIZER)
    );
    assert!(
        n[0].AutomationTable.is_null(),
        "the bare filter has no property table"
    );
}

#[test]
fn every_pin_is_as_specified() {
    struct Want {
        id: u32,
        flow: KSPIN_DATAFLOW,
        comm: KSPIN_COMMUNICATION,
        instances: u32,
        name: Option<GUID>,
        subtypes: &'static [GUID],
    }
    let want = [
        Want {
            id: PIN_DMUS_RENDER,
            flow: KSPIN_DATAFLOW_IN,
            comm: KSPIN_COMMUNICATION_SINK,
            instances: RENDER_MAX_INSTANCES,
            name: Some(KSAUDFNAME_MIDI),
            subtypes: &[KSDATAFORMAT_SUBTYPE_DIRECTMUSIC],
        },
        Want {
            id: PIN_MIDI_RENDER,
            flow: KSPIN_DATAFLOW_IN,
            comm: KSPIN_COMMUNICATION_SINK,
            instances: RENDER_MAX_INSTANCES,
            name: Some(KSAUDFNAME_MIDI),
            subtypes: &[KSDATAFORMAT_SUBTYPE_MIDI],
        },
        Want {
            id: PIN_CAPTURE,
            flow: KSPIN_DATAFLOW_OUT,
            comm: KSPIN_COMMUNICATION_SINK,
            instances: CAPTURE_MAX_INSTANCES,
            name: Some(KSAUDFNAME_MIDI),
            subtypes: &[KSDATAFORMAT_SUBTYPE_MIDI, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC],
        },
        Want {
            id: PIN_BRIDGE_OUT,
            flow: KSPIN_DATAFLOW_OUT,
            comm: KSPIN_COMMUNICATION_BRIDGE,
            instances: 0,
            name: Some(KSAUDFNAME_DMUSIC_MPU_OUT),
            subtypes: &[KSDATAFORMAT_SUBTYPE_MIDI_BUS],
        },
        Want {
            id: PIN_BRIDGE_IN,
            flow: KSPIN_DATAFLOW_IN,
            comm: KSPIN_COMMUNICATION_BRIDGE,
            instances: 0,
            name: Some(KSAUDFNAME_DMUSIC_MPU_IN),
            subtypes: &[KSDATAFORMAT_SUBTYPE_MIDI_BUS],
        },
    ];
    assert_eq!(RENDER_MAX_INSTANCES, 4);
    assert_eq!(CAPTURE_MAX_INSTANCES, 1);
    let ps = pins(filter_descriptor());
    assert_eq!(ps.len(), want.len());
    for w in &want {
        let p = &ps[w.id as usize];
        let k = &p.KsPinDescriptor;
        assert_eq!(p.MaxGlobalInstanceCount, w.instances, "pin {}", w.id);
        assert_eq!(p.MaxFilterInstanceCount, w.instances, "pin {}", w.id);
        assert_eq!(p.MinFilterInstanceCount, 0, "pin {}", w.id);
        assert!(p.AutomationTable.is_null());
        assert_eq!(k.DataFlow, w.flow, "pin {}", w.id);
        assert_eq!(k.Communication, w.comm, "pin {}", w.id);
        assert_eq!(guid_at(k.Category), Some(KSCATEGORY_AUDIO), "pin {}", w.id);
        assert_eq!(guid_at(k.Name), w.name, "pin {}", w.id);
        assert_eq!((k.InterfacesCount, k.MediumsCount), (0, 0));
        assert_eq!(k.ConstrainedDataRangesCount, 0);
        let rs = ranges(p);
        let subs: Vec<GUID> = rs.iter().map(|(h, _)| h.SubFormat).collect();
        assert_eq!(subs, w.subtypes, "pin {}", w.id);
        for (h, music) in &rs {
            assert_eq!(h.MajorFormat, KSDATAFORMAT_TYPE_MUSIC);
            assert_eq!(h.Specifier, KSDATAFORMAT_SPECIFIER_NONE);
            assert_eq!((h.Flags, h.SampleSize, h.Reserved), (0, 0, 0));
            if w.comm == KSPIN_COMMUNICATION_BRIDGE {
                assert_eq!(h.FormatSize as usize, size_of::<KSDATARANGE>());
                assert!(music.is_none());
            } else {
                let m = music.expect("streaming pins have KSDATARANGE_MUSIC ranges");
                assert_eq!(m.Technology, KSMUSIC_TECHNOLOGY_PORT);
                assert_eq!((m.Channels, m.Notes, m.ChannelMask), (0, 0, 0xFFFF));
            }
        }
        // pin_stream_kind agrees with the ranges.
        match pin_stream_kind(w.id) {
            Some((t, s)) => {
                assert_eq!(s, w.subtypes);
                let want_t = if w.flow == KSPIN_DATAFLOW_IN {
                    DMUS_STREAM_MIDI_RENDER
                } else {
                    DMUS_STREAM_MIDI_CAPTURE
                };
                assert_eq!(t, want_t);
            }
            None => assert_eq!(w.comm, KSPIN_COMMUNICATION_BRIDGE),
        }
    }
    assert_eq!(pin_stream_kind(PIN_COUNT as u32), None);
}

#[test]
fn connections_form_the_documented_topology() {
    let f = filter_descriptor();
    let ps = pins(f);
    let ns = nodes(f);
    // Vertices: ("pin", id) or ("node", id); edges from the connection list.
    let mut edges = Vec::new();
    for c in connections(f) {
        let from = if c.FromNode == PCFILTER_NODE {
            let p = ps.get(c.FromNodePin as usize).expect("from pin exists");
            // Data leaves a filter pin into the filter only if it flows in.
            assert_eq!(p.KsPinDescriptor.DataFlow, KSPIN_DATAFLOW_IN, "{c:?}");
            ('p', c.FromNodePin)
        } else {
            assert!((c.FromNode as usize) < ns.len(), "{c:?}");
            assert_eq!(
                c.FromNodePin, SYNTH_NODE_OUTPUT,
                "a node's output is its pin 0"
            );
            ('n', c.FromNode)
        };
        let to = if c.ToNode == PCFILTER_NODE {
            let p = ps.get(c.ToNodePin as usize).expect("to pin exists");
            assert_eq!(p.KsPinDescriptor.DataFlow, KSPIN_DATAFLOW_OUT, "{c:?}");
            ('p', c.ToNodePin)
        } else {
            assert!((c.ToNode as usize) < ns.len(), "{c:?}");
            assert_eq!(c.ToNodePin, SYNTH_NODE_INPUT, "a node's input is its pin 1");
            ('n', c.ToNode)
        };
        edges.push((from, to));
    }
    let reach = |start: (char, u32)| -> BTreeSet<(char, u32)> {
        let mut seen = BTreeSet::new();
        let mut q = VecDeque::from([start]);
        while let Some(v) = q.pop_front() {
            for &(a, b) in &edges {
                if a == v && seen.insert(b) {
                    q.push_back(b);
                }
            }
        }
        seen
    };
    let synth = ('n', NODE_SYNTH);
    for render in [PIN_DMUS_RENDER, PIN_MIDI_RENDER] {
        let r = reach(('p', render));
        assert_eq!(
            r,
            BTreeSet::from([synth, ('p', PIN_BRIDGE_OUT)]),
            "render pin {render}"
        );
    }
    assert_eq!(
        reach(('p', PIN_BRIDGE_IN)),
        BTreeSet::from([('n', NODE_SYNTH_CAPTURE), ('p', PIN_CAPTURE)])
    );
    // Every pin and node takes part in the topology.
    let mut touched = BTreeSet::new();
    for &(a, b) in &edges {
        touched.insert(a);
        touched.insert(b);
    }
    assert_eq!(touched.len(), PIN_COUNT + NODE_COUNT);
}

// The miniport's way of building its descriptor, with a handler of its own.
#[win_abi]
unsafe extern "system" fn test_handler(_: *mut PCPROPERTY_REQUEST) -> NTSTATUS {
    STATUS_SUCCESS
}
static ITEMS: [PCPROPERTY_ITEM; PROPERTY_COUNT] = property_items(Some(test_handler));
static TABLE: PCAUTOMATION_TABLE = automation_table(&ITEMS);
static NODES: [PCNODE_DESCRIPTOR; NODE_COUNT] = synth_nodes(&TABLE);
static FILTER: PCFILTER_DESCRIPTOR = filter_descriptor_with(&NODES);

#[test]
fn the_miniport_can_build_a_filter_with_its_property_handler() {
    let f = &FILTER;
    assert_eq!(f.Pins, filter_descriptor().Pins);
    let t = nodes(f)[NODE_SYNTH as usize].AutomationTable;
    assert_eq!(t, &TABLE as *const _);
    let t = &TABLE;
    assert_eq!(t.PropertyItemSize as usize, size_of::<PCPROPERTY_ITEM>());
    assert_eq!((t.MethodCount, t.EventCount), (0, 0));
    // SAFETY: PropertyCount items.
    let items = unsafe { std::slice::from_raw_parts(t.Properties, t.PropertyCount as usize) };
    let want = [
        (
            KSPROPERTY_SYNTH_CAPS,
            KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_BASICSUPPORT,
        ),
        (
            KSPROPERTY_SYNTH_PORTPARAMETERS,
            KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_BASICSUPPORT,
        ),
        (
            KSPROPERTY_SYNTH_CHANNELGROUPS,
            KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_SET | KSPROPERTY_TYPE_BASICSUPPORT,
        ),
        (
            KSPROPERTY_SYNTH_LATENCYCLOCK,
            KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_BASICSUPPORT,
        ),
        (
            KSPROPERTY_SYNTH_RUNNINGSTATS,
            KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_BASICSUPPORT,
        ),
    ];
    assert_eq!(items.len(), want.len());
    for (item, (id, flags)) in items.iter().zip(want) {
        assert_eq!(guid_at(item.Set), Some(KSPROPSETID_Synth));
        assert_eq!((item.Id, item.Flags), (id, flags));
        assert_eq!(
            item.Handler.map(|h| h as *const () as usize),
            Some(test_handler as *const () as usize)
        );
    }
    // The ids are docs/dmus-contract.md's.
    assert_eq!(
        (
            KSPROPERTY_SYNTH_CAPS,
            KSPROPERTY_SYNTH_PORTPARAMETERS,
            KSPROPERTY_SYNTH_CHANNELGROUPS
        ),
        (2, 3, 4)
    );
    assert_eq!(
        (KSPROPERTY_SYNTH_LATENCYCLOCK, KSPROPERTY_SYNTH_RUNNINGSTATS),
        (6, 7)
    );
}

/// The bytes of `music_format(sub)` changed by `edit`, zero-filled up to its FormatSize.
fn format(sub: GUID, edit: impl FnOnce(&mut KSDATAFORMAT)) -> Vec<u8> {
    let mut f = music_format(sub);
    edit(&mut f);
    let mut b = bytes_of(&f);
    b.resize(b.len().max(f.FormatSize as usize), 0);
    b
}

#[test]
fn new_stream_checks_pin_type_and_format() {
    let dm = format(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC, |_| {});
    let midi = format(KSDATAFORMAT_SUBTYPE_MIDI, |_| {});
    assert_eq!(midi.len(), 64);
    let r = DMUS_STREAM_MIDI_RENDER;
    let c = DMUS_STREAM_MIDI_CAPTURE;
    assert_eq!(
        check_stream_format(PIN_DMUS_RENDER, r, &dm),
        Ok(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC)
    );
    assert_eq!(
        check_stream_format(PIN_MIDI_RENDER, r, &midi),
        Ok(KSDATAFORMAT_SUBTYPE_MIDI)
    );
    assert_eq!(
        check_stream_format(PIN_CAPTURE, c, &midi),
        Ok(KSDATAFORMAT_SUBTYPE_MIDI)
    );
    assert_eq!(
        check_stream_format(PIN_CAPTURE, c, &dm),
        Ok(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC)
    );
    let bad = Err(STATUS_INVALID_PARAMETER);
    assert_eq!(check_stream_format(PIN_DMUS_RENDER, r, &midi), bad);
    assert_eq!(check_stream_format(PIN_MIDI_RENDER, c, &midi), bad);
    assert_eq!(check_stream_format(PIN_CAPTURE, r, &midi), bad);
    assert_eq!(
        check_stream_format(PIN_CAPTURE, DMUS_STREAM_WAVE_SINK, &midi),
        bad
    );
    assert_eq!(check_stream_format(PIN_BRIDGE_OUT, r, &midi), bad);
    assert_eq!(check_stream_format(99, r, &midi), bad);
    assert_eq!(check_stream_format(PIN_MIDI_RENDER, r, &midi[..63]), bad);
    let mut past_end = midi.clone();
    past_end[0] = 65;
    assert_eq!(check_stream_format(PIN_MIDI_RENDER, r, &past_end), bad);
    let short_size = format(KSDATAFORMAT_SUBTYPE_MIDI, |f| f.FormatSize = 32);
    let wrong_spec = format(KSDATAFORMAT_SUBTYPE_MIDI, |f| f.Specifier = GUID_NULL);
    let wrong_major = format(KSDATAFORMAT_SUBTYPE_MIDI, |f| {
        f.MajorFormat = KSCATEGORY_AUDIO
    });
    for (what, f) in [
        ("FormatSize 32", short_size),
        ("specifier", wrong_spec),
        ("major format", wrong_major),
    ] {
        assert_eq!(check_stream_format(PIN_MIDI_RENDER, r, &f), bad, "{what}");
    }
    // A longer format (e.g. a KSDATARANGE_MUSIC-sized one) is accepted.
    let long = format(KSDATAFORMAT_SUBTYPE_MIDI, |f| f.FormatSize = 96);
    assert_eq!(
        check_stream_format(PIN_MIDI_RENDER, r, &long),
        Ok(KSDATAFORMAT_SUBTYPE_MIDI)
    );
}

// ---- DataRangeIntersection ---------------------------------------------------------------------

fn ours(subtype: GUID) -> Vec<u8> {
    if subtype == KSDATAFORMAT_SUBTYPE_MIDI_BUS {
        bytes_of(&RANGE_MIDI_BUS)
    } else if subtype == KSDATAFORMAT_SUBTYPE_MIDI {
        bytes_of(&RANGE_MIDI)
    } else {
        bytes_of(&RANGE_DIRECTMUSIC)
    }
}

fn expect_format(out: &[u8], sub: GUID) {
    let f: KSDATAFORMAT = read(out);
    assert_eq!(f.FormatSize, RESULT_FORMAT_SIZE);
    assert_eq!((f.Flags, f.SampleSize, f.Reserved), (0, 0, 0));
    assert_eq!(f.MajorFormat, KSDATAFORMAT_TYPE_MUSIC);
    assert_eq!(f.SubFormat, sub);
    assert_eq!(f.Specifier, KSDATAFORMAT_SPECIFIER_NONE);
}

#[test]
fn intersection_of_matching_ranges_is_our_format() {
    for (pin, sub) in [
        (PIN_DMUS_RENDER, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC),
        (PIN_MIDI_RENDER, KSDATAFORMAT_SUBTYPE_MIDI),
        (PIN_CAPTURE, KSDATAFORMAT_SUBTYPE_MIDI),
        (PIN_CAPTURE, KSDATAFORMAT_SUBTYPE_DIRECTMUSIC),
        (PIN_BRIDGE_OUT, KSDATAFORMAT_SUBTYPE_MIDI_BUS),
    ] {
        // The client sends our own range back (a KSDATARANGE_MUSIC, 96 bytes).
        let mut out = [0xAAu8; 80];
        let n = data_range_intersection(pin, &ours(sub), &ours(sub), &mut out);
        assert_eq!(n, Ok(RESULT_FORMAT_SIZE), "pin {pin}");
        expect_format(&out, sub);
        assert_eq!(out[64..], [0xAA; 16], "nothing written past the format");
    }
}

#[test]
fn wildcards_match_and_take_our_values() {
    let cases = [
        (
            GUID_NULL,
            KSDATAFORMAT_SUBTYPE_MIDI,
            KSDATAFORMAT_SPECIFIER_NONE,
        ),
        (
            KSDATAFORMAT_TYPE_MUSIC,
            KSDATAFORMAT_SUBTYPE_WILDCARD,
            KSDATAFORMAT_SPECIFIER_NONE,
        ),
        (
            KSDATAFORMAT_TYPE_MUSIC,
            KSDATAFORMAT_SUBTYPE_MIDI,
            KSDATAFORMAT_SPECIFIER_WILDCARD,
        ),
        (
            KSDATAFORMAT_TYPE_WILDCARD,
            KSDATAFORMAT_SUBTYPE_WILDCARD,
            KSDATAFORMAT_SPECIFIER_WILDCARD,
        ),
    ];
    for (major, sub, spec) in cases {
        let client = format(sub, |f| {
            f.MajorFormat = major;
            f.Specifier = spec;
        });
        let mut out = [0u8; 64];
        let r = data_range_intersection(
            PIN_MIDI_RENDER,
            &client,
            &ours(KSDATAFORMAT_SUBTYPE_MIDI),
            &mut out,
        );
        assert_eq!(r, Ok(64));
        expect_format(&out, KSDATAFORMAT_SUBTYPE_MIDI);
    }
}

#[test]
fn intersection_refusals() {
    let midi = ours(KSDATAFORMAT_SUBTYPE_MIDI);
    let dm = ours(KSDATAFORMAT_SUBTYPE_DIRECTMUSIC);
    let mut out = [0u8; 64];
    // Different subtype, major or specifier: no match.
    assert_eq!(
        data_range_intersection(PIN_MIDI_RENDER, &dm, &midi, &mut out),
        Err(STATUS_NO_MATCH)
    );
    let wave = format(KSDATAFORMAT_SUBTYPE_MIDI, |f| {
        f.MajorFormat = KSCATEGORY_AUDIO
    });
    assert_eq!(
        data_range_intersection(PIN_MIDI_RENDER, &wave, &midi, &mut out),
        Err(STATUS_NO_MATCH)
    );
    let spec = format(KSDATAFORMAT_SUBTYPE_MIDI, |f| {
        f.Specifier = KSCATEGORY_AUDIO
    });
    assert_eq!(
        data_range_intersection(PIN_MIDI_RENDER, &spec, &midi, &mut out),
        Err(STATUS_NO_MATCH)
    );
    // Our range not on that pin.
    assert_eq!(
        data_range_intersection(PIN_DMUS_RENDER, &midi, &midi, &mut out),
        Err(STATUS_NO_MATCH)
    );
    // Required attributes we cannot satisfy.
    let mut attrs = midi.clone();
    attrs[4..8].copy_from_slice(&KSDATARANGE_REQUIRED_ATTRIBUTES.to_ne_bytes());
    assert_eq!(
        data_range_intersection(PIN_MIDI_RENDER, &attrs, &midi, &mut out),
        Err(STATUS_NO_MATCH)
    );
    // Size query, short buffer.
    assert_eq!(
        data_range_intersection(PIN_MIDI_RENDER, &midi, &midi, &mut []),
        Err(STATUS_BUFFER_OVERFLOW)
    );
    assert_eq!(
        data_range_intersection(PIN_MIDI_RENDER, &midi, &midi, &mut out[..63]),
        Err(STATUS_BUFFER_TOO_SMALL)
    );
    // No match wins over a size query.
    assert_eq!(
        data_range_intersection(PIN_MIDI_RENDER, &dm, &midi, &mut []),
        Err(STATUS_NO_MATCH)
    );
    // Malformed: unknown pin, short range, FormatSize too small or past the bytes.
    let bad = Err(STATUS_INVALID_PARAMETER);
    assert_eq!(
        data_range_intersection(PIN_COUNT as u32, &midi, &midi, &mut out),
        bad
    );
    assert_eq!(
        data_range_intersection(PIN_MIDI_RENDER, &midi[..63], &midi, &mut out),
        bad
    );
    let mut small = midi.clone();
    small[0..4].copy_from_slice(&63u32.to_ne_bytes());
    assert_eq!(
        data_range_intersection(PIN_MIDI_RENDER, &small, &midi, &mut out),
        bad
    );
    let mut big = midi.clone();
    big[0..4].copy_from_slice(&200u32.to_ne_bytes());
    assert_eq!(
        data_range_intersection(PIN_MIDI_RENDER, &big, &midi, &mut out),
        bad
    );
    assert_eq!(
        data_range_intersection(PIN_MIDI_RENDER, &midi, &big, &mut out),
        bad
    );
}

#[test]
fn raw_adapter_reports_lengths() {
    let client = RANGE_MIDI;
    let ptr_of = |r: &KSDATARANGE_MUSIC| ptr::from_ref(r).cast::<KSDATARANGE>().cast_mut();
    let mut out = [0u8; 64];
    let mut len = 0xFFFF_FFFFu32;
    // SAFETY: valid ranges, a 64-byte buffer, a writable length.
    let s = unsafe {
        data_range_intersection_raw(
            PIN_MIDI_RENDER,
            ptr_of(&client),
            ptr_of(&RANGE_MIDI),
            64,
            out.as_mut_ptr().cast::<c_void>(),
            &mut len,
        )
    };
    assert_eq!((s, len), (STATUS_SUCCESS, 64));
    expect_format(&out, KSDATAFORMAT_SUBTYPE_MIDI);
    // SAFETY: size query with a null buffer.
    let s = unsafe {
        data_range_intersection_raw(
            PIN_MIDI_RENDER,
            ptr_of(&client),
            ptr_of(&RANGE_MIDI),
            0,
            ptr::null_mut(),
            &mut len,
        )
    };
    assert_eq!((s, len), (STATUS_BUFFER_OVERFLOW, RESULT_FORMAT_SIZE));
    // SAFETY: no match; len reset to 0.
    let s = unsafe {
        data_range_intersection_raw(
            PIN_MIDI_RENDER,
            ptr_of(&RANGE_DIRECTMUSIC),
            ptr_of(&RANGE_MIDI),
            64,
            out.as_mut_ptr().cast::<c_void>(),
            &mut len,
        )
    };
    assert_eq!((s, len), (STATUS_NO_MATCH, 0));
    // SAFETY: null ranges are refused before any read.
    let s = unsafe {
        data_range_intersection_raw(
            0,
            ptr::null_mut(),
            ptr::null_mut(),
            0,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    assert_eq!(s, STATUS_INVALID_PARAMETER);
}

// ---- properties -------------------------------------------------------------------------------

struct Target {
    caps: SYNTHCAPS,
    time: Option<i64>,
    groups: Cell<u32>,
    set_calls: Cell<u32>,
    stats: Option<SYNTH_STATS>,
}

impl Target {
    fn new() -> Self {
        let mut description = [0u16; SYNTHCAPS_DESCRIPTION_LEN];
        for (d, c) in description.iter_mut().zip("MPU-401".encode_utf16()) {
            *d = c;
        }
        Target {
            caps: SYNTHCAPS {
                Guid: CLSID_MiniportDriverDMusUART,
                Flags: SYNTH_PC_EXTERNAL,
                MemorySize: 0,
                MaxChannelGroups: 1,
                MaxVoices: u32::MAX,
                MaxAudioChannels: u32::MAX,
                EffectFlags: SYNTH_EFFECT_NONE,
                Description: description,
            },
            time: Some(1_000_000),
            groups: Cell::new(1),
            set_calls: Cell::new(0),
            stats: Some(SYNTH_STATS {
                ValidStats: SYNTH_STATS_LOST_NOTES,
                LostNotes: 3,
                ..Default::default()
            }),
        }
    }
}

impl PropertyTarget for Target {
    fn synth_caps(&self, _node: u32) -> SYNTHCAPS {
        self.caps
    }
    fn master_time(&self) -> Option<i64> {
        self.time
    }
    fn channel_groups(&self) -> u32 {
        self.groups.get()
    }
    fn set_channel_groups(&self, groups: u32) -> NTSTATUS {
        self.set_calls.set(self.set_calls.get() + 1);
        self.groups.set(groups);
        STATUS_SUCCESS
    }
    fn running_stats(&self) -> Option<SYNTH_STATS> {
        self.stats
    }
}

/// Runs one request; returns (status, reported ValueSize, value bytes).
fn call(
    t: &Target,
    id: u32,
    verb: u32,
    instance: &[u8],
    value_len: usize,
) -> (NTSTATUS, u32, Vec<u8>) {
    call_with(
        t,
        KSPROPSETID_Synth,
        id,
        verb,
        instance,
        vec![0x5A; value_len],
    )
}

fn call_with(
    t: &Target,
    set: GUID,
    id: u32,
    verb: u32,
    instance: &[u8],
    mut value: Vec<u8>,
) -> (NTSTATUS, u32, Vec<u8>) {
    let mut view = PropertyRequestView::new(set, id, verb, instance, &mut value);
    let s = properties::handle(t, &mut view);
    let n = view.value_size();
    (s, n, value)
}

const GET: u32 = KSPROPERTY_TYPE_GET;
const SET: u32 = KSPROPERTY_TYPE_SET;

#[test]
fn every_get_answers_size_queries_and_short_buffers() {
    let t = Target::new();
    let sizes = [
        (KSPROPERTY_SYNTH_CAPS, size_of::<SYNTHCAPS>()),
        (
            KSPROPERTY_SYNTH_PORTPARAMETERS,
            size_of::<SYNTH_PORTPARAMS>(),
        ),
        (KSPROPERTY_SYNTH_CHANNELGROUPS, 4),
        (KSPROPERTY_SYNTH_LATENCYCLOCK, 8),
        (KSPROPERTY_SYNTH_RUNNINGSTATS, size_of::<SYNTH_STATS>()),
    ];
    assert_eq!(size_of::<SYNTHCAPS>(), 296);
    assert_eq!(size_of::<SYNTH_PORTPARAMS>(), 28);
    assert_eq!(size_of::<SYNTH_STATS>(), 28);
    let params = bytes_of(&SYNTH_PORTPARAMS::default());
    for (id, size) in sizes {
        assert_eq!(properties::value_size(id), Some(size as u32));
        let (s, n, _) = call(&t, id, GET, &params, 0);
        assert_eq!(
            (s, n),
            (STATUS_BUFFER_OVERFLOW, size as u32),
            "size query of {id}"
        );
        let (s, n, v) = call(&t, id, GET, &params, size - 1);
        assert_eq!(
            (s, n),
            (STATUS_BUFFER_TOO_SMALL, 0),
            "short buffer for {id}"
        );
        assert!(v.iter().all(|&b| b == 0x5A), "nothing written for {id}");
        let (s, n, _) = call(&t, id, GET, &params, size + 5);
        assert!(NT_SUCCESS(s), "{id}: {s:#x}");
        assert_eq!(n, size as u32, "{id} reports the bytes written");
    }
}

#[test]
fn caps_channel_groups_latency_and_stats() {
    let t = Target::new();
    let (_, _, v) = call(&t, KSPROPERTY_SYNTH_CAPS, GET, &[], 296);
    assert_eq!(read::<SYNTHCAPS>(&v), t.caps);

    let (s, _, v) = call(&t, KSPROPERTY_SYNTH_CHANNELGROUPS, GET, &[], 4);
    assert_eq!((s, read::<u32>(&v)), (STATUS_SUCCESS, 1));

    let (s, _, v) = call(&t, KSPROPERTY_SYNTH_LATENCYCLOCK, GET, &[], 8);
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(read::<u64>(&v), 1_000_000 + DEFAULT_LATENCY_100NS);
    assert_eq!(
        DEFAULT_LATENCY_100NS,
        dmus_miniport::render::SCHEDULE_PREFETCH_100NS
    );

    let mut no_clock = Target::new();
    no_clock.time = None;
    let (s, n, _) = call(&no_clock, KSPROPERTY_SYNTH_LATENCYCLOCK, GET, &[], 8);
    assert_eq!((s, n), (STATUS_INVALID_DEVICE_REQUEST, 0));
    no_clock.time = Some(-5);
    let (_, _, v) = call(&no_clock, KSPROPERTY_SYNTH_LATENCYCLOCK, GET, &[], 8);
    assert_eq!(
        read::<u64>(&v),
        DEFAULT_LATENCY_100NS,
        "a negative time counts as 0"
    );

    let (s, _, v) = call(&t, KSPROPERTY_SYNTH_RUNNINGSTATS, GET, &[], 28);
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(read::<SYNTH_STATS>(&v), t.stats.unwrap());
    let mut no_stats = Target::new();
    no_stats.stats = None;
    let (s, n, _) = call(&no_stats, KSPROPERTY_SYNTH_RUNNINGSTATS, GET, &[], 28);
    assert_eq!((s, n), (STATUS_INVALID_DEVICE_REQUEST, 0));
}

#[test]
fn channel_groups_set_accepts_only_one_to_max() {
    let t = Target::new();
    let put = |n: u32| {
        call_with(
            &t,
            KSPROPSETID_Synth,
            KSPROPERTY_SYNTH_CHANNELGROUPS,
            SET,
            &[],
            n.to_ne_bytes().to_vec(),
        )
    };
    assert_eq!(put(1).0, STATUS_SUCCESS);
    assert_eq!(put(1).1, 4);
    assert_eq!(t.set_calls.get(), 2);
    assert_eq!(put(0).0, STATUS_INVALID_PARAMETER);
    assert_eq!(put(2).0, STATUS_INVALID_PARAMETER);
    assert_eq!(put(u32::MAX).0, STATUS_INVALID_PARAMETER);
    assert_eq!(
        t.set_calls.get(),
        2,
        "refused values never reach the target"
    );
    let (s, n, _) = call(&t, KSPROPERTY_SYNTH_CHANNELGROUPS, SET, &[], 3);
    assert_eq!((s, n), (STATUS_BUFFER_TOO_SMALL, 0));
    let (s, _, _) = call(&t, KSPROPERTY_SYNTH_CHANNELGROUPS, SET, &[], 0);
    assert_eq!(s, STATUS_BUFFER_TOO_SMALL);
    // A synth with 4 groups takes 4.
    let mut four = Target::new();
    four.caps.MaxChannelGroups = 4;
    let (s, _, _) = call_with(
        &four,
        KSPROPSETID_Synth,
        KSPROPERTY_SYNTH_CHANNELGROUPS,
        SET,
        &[],
        4u32.to_ne_bytes().to_vec(),
    );
    assert_eq!((s, four.groups.get()), (STATUS_SUCCESS, 4));
}

#[test]
fn port_parameters_adjusts_and_says_so() {
    let t = Target::new();
    let get = |p: &SYNTH_PORTPARAMS| {
        let (s, n, v) = call(&t, KSPROPERTY_SYNTH_PORTPARAMETERS, GET, &bytes_of(p), 28);
        assert_eq!(n, 28);
        (s, read::<SYNTH_PORTPARAMS>(&v))
    };
    // What we can do exactly: success, echoed.
    let ok = SYNTH_PORTPARAMS {
        ValidParams: SYNTH_PORTPARAMS_VOICES
            | SYNTH_PORTPARAMS_CHANNELGROUPS
            | SYNTH_PORTPARAMS_SAMPLERATE
            | SYNTH_PORTPARAMS_SHARE,
        Voices: 64,
        ChannelGroups: 1,
        AudioChannels: 0,
        SampleRate: 22050,
        EffectsFlags: 0,
        Share: 1,
    };
    let (s, got) = get(&ok);
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!(
        got,
        SYNTH_PORTPARAMS {
            ValidParams: ok.ValidParams | SYNTH_PORTPARAMS_EFFECTS,
            ..ok
        }
    );
    // More groups and effects than we have: adjusted, STATUS_NOT_ALL_ASSIGNED (a success code).
    let greedy = SYNTH_PORTPARAMS {
        ValidParams: SYNTH_PORTPARAMS_CHANNELGROUPS | SYNTH_PORTPARAMS_EFFECTS,
        ChannelGroups: 16,
        EffectsFlags: SYNTH_EFFECT_REVERB | SYNTH_EFFECT_CHORUS,
        ..Default::default()
    };
    let (s, got) = get(&greedy);
    assert_eq!(s, STATUS_NOT_ALL_ASSIGNED);
    assert!(NT_SUCCESS(s));
    assert_eq!(
        (got.ChannelGroups, got.EffectsFlags),
        (1, SYNTH_EFFECT_NONE)
    );
    // Nothing given: our defaults.
    let (s, got) = get(&SYNTH_PORTPARAMS {
        ChannelGroups: 9,
        EffectsFlags: 7,
        ..Default::default()
    });
    assert_eq!(s, STATUS_SUCCESS);
    assert_eq!((got.ChannelGroups, got.EffectsFlags), (1, 0));
    assert_eq!(
        got.ValidParams,
        SYNTH_PORTPARAMS_CHANNELGROUPS | SYNTH_PORTPARAMS_EFFECTS
    );
    // Voices bounded by caps when caps give a number.
    let mut limited = Target::new();
    limited.caps.MaxVoices = 32;
    let v = SYNTH_PORTPARAMS {
        ValidParams: SYNTH_PORTPARAMS_VOICES,
        Voices: 100,
        ..Default::default()
    };
    let (p, s) = properties::port_parameters(&limited.caps, &v);
    assert_eq!((s, p.Voices), (STATUS_NOT_ALL_ASSIGNED, 32));
    let v0 = SYNTH_PORTPARAMS {
        ValidParams: SYNTH_PORTPARAMS_VOICES,
        Voices: 0,
        ..Default::default()
    };
    assert_eq!(
        properties::port_parameters(&limited.caps, &v0).1,
        STATUS_NOT_ALL_ASSIGNED
    );
    // No (or a short) instance: malformed request.
    let (s, n, _) = call(&t, KSPROPERTY_SYNTH_PORTPARAMETERS, GET, &[], 28);
    assert_eq!((s, n), (STATUS_INVALID_PARAMETER, 0));
    let (s, _, _) = call(
        &t,
        KSPROPERTY_SYNTH_PORTPARAMETERS,
        GET,
        &bytes_of(&ok)[..27],
        28,
    );
    assert_eq!(s, STATUS_INVALID_PARAMETER);
}

#[test]
fn basic_support_verbs_and_unknown_properties() {
    let t = Target::new();
    let bs = KSPROPERTY_TYPE_BASICSUPPORT;
    for id in PROPERTY_IDS {
        let access = properties::access_flags(id).unwrap();
        let (s, n, _) = call(&t, id, bs, &[], 0);
        assert_eq!((s, n), (STATUS_BUFFER_OVERFLOW, 40));
        let (s, n, v) = call(&t, id, bs, &[], 40);
        assert_eq!((s, n), (STATUS_SUCCESS, 40));
        let d: KSPROPERTY_DESCRIPTION = read(&v);
        assert_eq!(
            (d.AccessFlags, d.DescriptionSize, d.MembersListCount),
            (access, 40, 0)
        );
        assert_eq!(d.PropTypeSet.Set, GUID_NULL);
        let (s, n, v) = call(&t, id, bs, &[], 4);
        assert_eq!((s, n, read::<u32>(&v)), (STATUS_SUCCESS, 4, access));
        let (s, n, _) = call(&t, id, bs, &[], 3);
        assert_eq!((s, n), (STATUS_BUFFER_TOO_SMALL, 0));
        // Node requests carry KSPROPERTY_TYPE_TOPOLOGY: ignored.
        let (s, _, _) = call(
            &t,
            id,
            GET | KSPROPERTY_TYPE_TOPOLOGY,
            &bytes_of(&SYNTH_PORTPARAMS::default()),
            300,
        );
        assert!(NT_SUCCESS(s), "{id}");
    }
    // SET where only GET is offered, two verbs at once, no verb: invalid device request.
    for (id, verb) in [
        (KSPROPERTY_SYNTH_CAPS, SET),
        (KSPROPERTY_SYNTH_CHANNELGROUPS, GET | SET),
        (KSPROPERTY_SYNTH_CHANNELGROUPS, 0),
        (KSPROPERTY_SYNTH_CHANNELGROUPS, 0x100),
    ] {
        let (s, n, _) = call(&t, id, verb, &[], 4);
        assert_eq!((s, n), (STATUS_INVALID_DEVICE_REQUEST, 0), "{id} {verb:#x}");
    }
    // Ids we do not handle and foreign sets: not found.
    for id in [
        KSPROPERTY_SYNTH_VOLUME,
        KSPROPERTY_SYNTH_VOLUMEBOOST,
        KSPROPERTY_SYNTH_VOICEPRIORITY,
        8,
        1000,
    ] {
        assert_eq!(call(&t, id, GET, &[], 64).0, STATUS_NOT_FOUND, "{id}");
    }
    let (s, _, _) = call_with(&t, KSPROPSETID_SynthClock, 0, GET, &[], vec![0; 8]);
    assert_eq!(s, STATUS_NOT_FOUND);
}

#[test]
fn request_adapter_reads_and_writes_the_pcproperty_request() {
    let t = Target::new();
    let item = ITEMS[2]; // CHANNELGROUPS
    let mut value = 0u32;
    let mut req = PCPROPERTY_REQUEST {
        MajorTarget: ptr::null_mut(),
        MinorTarget: ptr::null_mut(),
        Node: NODE_SYNTH,
        PropertyItem: &item,
        Verb: KSPROPERTY_TYPE_GET | KSPROPERTY_TYPE_TOPOLOGY,
        InstanceSize: 0,
        Instance: ptr::null_mut(),
        ValueSize: 4,
        Value: (&mut value as *mut u32).cast::<c_void>(),
        Irp: ptr::null_mut(),
    };
    // SAFETY: a request built above; Value is 4 writable bytes.
    let s = unsafe { with_request_view(&mut req, |v| properties::handle(&t, v)) };
    assert_eq!((s, req.ValueSize, value), (STATUS_SUCCESS, 4, 1));
    // Size query through the adapter.
    req.ValueSize = 0;
    req.Value = ptr::null_mut();
    // SAFETY: as above, no value buffer.
    let s = unsafe { with_request_view(&mut req, |v| properties::handle(&t, v)) };
    assert_eq!((s, req.ValueSize), (STATUS_BUFFER_OVERFLOW, 4));
    // A null Value with a size, a null item, a null request: refused, handler not called.
    req.ValueSize = 4;
    let mut called = false;
    // SAFETY: the adapter refuses before touching Value.
    let s = unsafe {
        with_request_view(&mut req, |_| {
            called = true;
            STATUS_SUCCESS
        })
    };
    assert_eq!(s, STATUS_INVALID_PARAMETER);
    req.PropertyItem = ptr::null();
    // SAFETY: as above.
    let s2 = unsafe {
        with_request_view(&mut req, |_| {
            called = true;
            STATUS_SUCCESS
        })
    };
    // SAFETY: null request.
    let s3 = unsafe {
        with_request_view(ptr::null_mut(), |_| {
            called = true;
            STATUS_SUCCESS
        })
    };
    assert_eq!(
        (s2, s3, called),
        (STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER, false)
    );
}
