//! KSPROPERTY_SYNTH_RUNNINGSTATS, read as DirectMusic reads it (IDirectMusicPort::
//! GetRunningStats): through the filter's own automation table, as PortCls dispatches a
//! property request. It is how a run shows what the driver itself lost (`LostNotes`: bytes the
//! device did not take, bytes the capture ring had no room for), on the native build and on the
//! image alike: the image's counters are not reachable any other way from outside it.

use std::mem::size_of;
use std::ptr;

use dmus_miniport::abi::{
    IMiniportDMus, KSPROPERTY_SYNTH_RUNNINGSTATS, KSPROPERTY_TYPE_GET, KSPROPSETID_Synth,
    PCNODE_DESCRIPTOR, PCPROPERTY_ITEM, PCPROPERTY_REQUEST, STATUS_SUCCESS, SYNTH_STATS,
};
use dmus_miniport::com::ComPtr;

use super::table;

/// The first node whose automation table has a RUNNINGSTATS handler: its index and item.
/// A descriptor PortCls could not walk either (a null table with entries, a stride smaller
/// than its structure) has none.
fn running_stats_item(miniport: &ComPtr<IMiniportDMus>) -> Option<(u32, *const PCPROPERTY_ITEM)> {
    let descriptor = miniport.get_description().ok()?;
    // SAFETY: GetDescription's descriptor is static for the miniport's life (we hold it).
    let d = unsafe { descriptor.as_ref() }?;
    // SAFETY: NodeCount nodes of NodeSize bytes from Nodes (the descriptor's layout), static.
    let nodes = unsafe { table::entries::<PCNODE_DESCRIPTOR>(d.Nodes, d.NodeCount, d.NodeSize) };
    for (index, node) in (0u32..).zip(nodes.ok()?) {
        // SAFETY: a node's automation table is null or static, like the descriptor.
        let Some(table) = (unsafe { node.AutomationTable.as_ref() }) else {
            continue;
        };
        // SAFETY: PropertyCount items of PropertyItemSize bytes from Properties, static.
        let items = unsafe {
            table::entries::<PCPROPERTY_ITEM>(
                table.Properties,
                table.PropertyCount,
                table.PropertyItemSize,
            )
        };
        for item in items.ok()? {
            // SAFETY: an item's Set is null or a static GUID.
            let set = unsafe { item.Set.as_ref() };
            if set == Some(&KSPROPSETID_Synth)
                && item.Id == KSPROPERTY_SYNTH_RUNNINGSTATS
                && item.Handler.is_some()
            {
                return Some((index, ptr::from_ref(item)));
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
