//! IResourceList (portcls.h): the I/O port and interrupt PortCls assigns to the device.

use super::{CM_RESOURCE_TYPE, NTSTATUS, PCM_PARTIAL_RESOURCE_DESCRIPTOR, POPAQUE};

interface! {
    IResourceList, IResourceListVtbl, PRESOURCELIST {
        fn NumberOfEntries() -> u32;
        fn NumberOfEntriesOfType(Type: CM_RESOURCE_TYPE) -> u32;
        fn FindTranslatedEntry(Type: CM_RESOURCE_TYPE, Index: u32) -> PCM_PARTIAL_RESOURCE_DESCRIPTOR;
        fn FindUntranslatedEntry(Type: CM_RESOURCE_TYPE, Index: u32) -> PCM_PARTIAL_RESOURCE_DESCRIPTOR;
        fn AddEntry(
            Translated: PCM_PARTIAL_RESOURCE_DESCRIPTOR,
            Untranslated: PCM_PARTIAL_RESOURCE_DESCRIPTOR,
        ) -> NTSTATUS;
        fn AddEntryFromParent(Parent: *mut IResourceList, Type: CM_RESOURCE_TYPE, Index: u32) -> NTSTATUS;
        /// A `PCM_RESOURCE_LIST`, left opaque.
        fn TranslatedList() -> POPAQUE;
        /// A `PCM_RESOURCE_LIST`, left opaque.
        fn UntranslatedList() -> POPAQUE;
    }
}
