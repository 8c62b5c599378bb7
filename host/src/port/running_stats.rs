//! KSPROPERTY_SYNTH_RUNNINGSTATS, read as DirectMusic reads it (IDirectMusicPort::
//! GetRunningStats): through the filter's own automation table, as PortCls dispatches a
//! property request. It is how a run shows what the driver itself lost (`LostNotes`: bytes the
//! device did not take, bytes the capture ring had no room for), on the native build and on the
//! image alike: the image's counters are not reachable any other way from outside it.

use std::mem::size_of;
use std::ptr;

use dmus_miniport::abi::{
    IMiniportDMus, KSPROPERTY_SYNTH_RUNNINGSTATS, KSPROPERTY_TYPE_GET, KSPROPSETID_Synth,
    PCAUTOMATION_TABLE, PCNODE_DESCRIPTOR, PCPROPERTY_ITEM, PCPROPERTY_REQUEST, STATUS_SUCCESS,
    SYNTH_STATS,
};
use dmus_miniport::com::ComPtr;

/// The first node whose automation table has a RUNNINGSTATS handler: its index and item.
fn running_stats_item(miniport: &ComPtr<IMiniportDMus>) -> Option<(u32, *const PCPROPERTY_ITEM)> {
    let descriptor = miniport.get_description().ok()?;
    if descriptor.is_null() {
        return None;
    }
    // SAFETY: GetDescription's descriptor is static for the miniport's life (we hold it);
    // NodeCount nodes of NodeSize bytes each, every table with PropertyCount items of
    // PropertyItemSize bytes: the layout PortCls walks the same way.
    unsafe {
        let d = &*descriptor;
        let node_size = (d.NodeSize as usize).max(size_of::<PCNODE_DESCRIPTOR>());
        for index in 0..d.NodeCount {
            let node = &*d
                .Nodes
                .cast::<u8>()
                .add(index as usize * node_size)
                .cast::<PCNODE_DESCRIPTOR>();
            let Some(table) = node.AutomationTable.as_ref() else {
                continue;
            };
            let table: &PCAUTOMATION_TABLE = table;
            let item_size = (table.PropertyItemSize as usize).max(size_of::<PCPROPERTY_ITEM>());
            for i in 0..table.PropertyCount as usize {
                let item = table
                    .Properties
                    .cast::<u8>()
                    .add(i * item_size)
                    .cast::<PCPROPERTY_ITEM>();
                let it = &*item;
                if !it.Set.is_null()
                    && *it.Set == KSPROPSETID_Synth
                    && it.Id == KSPROPERTY_SYNTH_RUNNINGSTATS
                    && it.Handler.is_some()
                {
                    return Some((index, item));
                }
            }
        }
    }
    None
}

/// The miniport's SYNTH_STATS (a GET of KSPROPERTY_SYNTH_RUNNINGSTATS on its synth node), or
/// None if it has no such property or refuses the request. PASSIVE_LEVEL, as PortCls calls
/// property handlers.
pub fn running_stats(miniport: &ComPtr<IMiniportDMus>) -> Option<SYNTH_STATS> {
    let (node, item) = running_stats_item(miniport)?;
    let mut stats = SYNTH_STATS::default();
    let mut request = PCPROPERTY_REQUEST {
        MajorTarget: miniport.as_ptr().cast(),
        MinorTarget: ptr::null_mut(),
        Node: node,
        PropertyItem: item,
        Verb: KSPROPERTY_TYPE_GET,
        InstanceSize: 0,
        Instance: ptr::null_mut(),
        ValueSize: size_of::<SYNTH_STATS>() as u32,
        Value: ptr::from_mut(&mut stats).cast(),
        Irp: ptr::null_mut(),
    };
    // SAFETY: the item is the miniport's own (found above, static while we hold the miniport),
    // and the request is what PortCls builds for a node property GET: the miniport as the
    // major target, a value buffer of SYNTH_STATS's size that outlives the call.
    let status = unsafe { ((*item).Handler?)(&mut request) };
    (status == STATUS_SUCCESS && request.ValueSize as usize == size_of::<SYNTH_STATS>())
        .then_some(stats)
}
