//! IResourceList (portcls.h).

use core::ptr;

use crate::abi::{
    CM_PARTIAL_RESOURCE_RANGE, CM_RESOURCE_TYPE, CmResourceTypePort, IResourceList,
    PCM_PARTIAL_RESOURCE_DESCRIPTOR,
};
use crate::com::ComPtr;

impl ComPtr<IResourceList> {
    /// IResourceList::NumberOfEntries. PASSIVE_LEVEL (the list's pages).
    pub(crate) fn number_of_entries(&self) -> u32 {
        // SAFETY: a live list (we hold a reference); no arguments.
        unsafe { (self.vtbl().NumberOfEntries)(self.as_ptr()) }
    }

    /// IResourceList::NumberOfEntriesOfType. PASSIVE_LEVEL.
    pub(crate) fn number_of_entries_of_type(&self, ty: CM_RESOURCE_TYPE) -> u32 {
        // SAFETY: a live list (we hold a reference); arguments by value.
        unsafe { (self.vtbl().NumberOfEntriesOfType)(self.as_ptr(), ty) }
    }

    /// IResourceList::FindTranslatedEntry: the `index`-th translated entry of type `ty`, or
    /// null; valid while the list lives (its page). PASSIVE_LEVEL. The typed
    /// [`translated_port`](Self::translated_port) and
    /// [`translated_interrupt`](Self::translated_interrupt) read it.
    pub(crate) fn find_translated_entry(
        &self,
        ty: CM_RESOURCE_TYPE,
        index: u32,
    ) -> PCM_PARTIAL_RESOURCE_DESCRIPTOR {
        // SAFETY: a live list (we hold a reference); arguments by value.
        unsafe { (self.vtbl().FindTranslatedEntry)(self.as_ptr(), ty, index) }
    }

    /// The `index`-th translated I/O port range (its `u.Port`), if there is one.
    /// PASSIVE_LEVEL.
    pub(crate) fn translated_port(&self, index: u32) -> Option<CM_PARTIAL_RESOURCE_RANGE> {
        let entry = self.find_translated_entry(CmResourceTypePort, index);
        if entry.is_null() {
            return None;
        }
        // SAFETY: a descriptor the list returned, valid while the list lives (we hold it); a
        // port entry, so `u.Port` is the member to read (unaligned: the structure is packed).
        Some(unsafe { ptr::addr_of!((*entry).u.Port).read_unaligned() })
    }

    /// The `index`-th translated interrupt (its `u.Interrupt`), if there is one.
    /// PASSIVE_LEVEL. Only the host model of PcNewInterruptSync reads it (on Windows, PortCls
    /// reads the list itself).
    #[cfg(not(target_os = "windows"))]
    pub(crate) fn translated_interrupt(
        &self,
        index: u32,
    ) -> Option<crate::abi::CM_PARTIAL_RESOURCE_INTERRUPT> {
        let entry = self.find_translated_entry(crate::abi::CmResourceTypeInterrupt, index);
        if entry.is_null() {
            return None;
        }
        // SAFETY: as in `translated_port`, for an interrupt entry and `u.Interrupt`.
        Some(unsafe { ptr::addr_of!((*entry).u.Interrupt).read_unaligned() })
    }
}
