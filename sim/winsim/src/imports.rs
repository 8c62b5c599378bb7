//! The routines the simulated kernel gives an image to import, by module and name, each
//! reached through its call-site thunk (`call_site`). An import the image needs and this
//! table lacks is a load error naming it.

use crate::call_site::thunk;
use crate::{ex_timer, ntoskrnl, portcls};

/// Every import, in table order (also the index of its call counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Import {
    ExAllocatePool2,
    ExFreePoolWithTag,
    KeAcquireSpinLockRaiseToDpc,
    KeReleaseSpinLock,
    KeAcquireSpinLockAtDpcLevel,
    KeReleaseSpinLockFromDpcLevel,
    KeQueryInterruptTimePrecise,
    KeInitializeDpc,
    KeInitializeTimer,
    KeSetTimer,
    KeCancelTimer,
    KeFlushQueuedDpcs,
    KeBugCheckEx,
    DbgPrintEx,
    KeStallExecutionProcessor,
    PcInitializeAdapterDriver,
    PcAddAdapterDevice,
    PcNewPort,
    PcNewServiceGroup,
    PcNewInterruptSync,
    PcRegisterSubdevice,
    ExAllocateTimer,
    ExSetTimer,
    ExCancelTimer,
    ExDeleteTimer,
    KeInsertQueueDpc,
    KeRemoveQueueDpc,
}

thunk!(t_ex_allocate_pool2 => ntoskrnl::ex_allocate_pool2);
thunk!(t_ex_free_pool_with_tag => ntoskrnl::ex_free_pool_with_tag);
thunk!(t_ke_acquire_spin_lock_raise_to_dpc => ntoskrnl::ke_acquire_spin_lock_raise_to_dpc);
thunk!(t_ke_release_spin_lock => ntoskrnl::ke_release_spin_lock);
thunk!(t_ke_acquire_spin_lock_at_dpc_level => ntoskrnl::ke_acquire_spin_lock_at_dpc_level);
thunk!(t_ke_release_spin_lock_from_dpc_level => ntoskrnl::ke_release_spin_lock_from_dpc_level);
thunk!(t_ke_query_interrupt_time_precise => ntoskrnl::ke_query_interrupt_time_precise);
thunk!(t_ke_initialize_dpc => ntoskrnl::ke_initialize_dpc);
thunk!(t_ke_initialize_timer => ntoskrnl::ke_initialize_timer);
thunk!(t_ke_set_timer => ntoskrnl::ke_set_timer);
thunk!(t_ke_cancel_timer => ntoskrnl::ke_cancel_timer);
thunk!(t_ke_flush_queued_dpcs => ntoskrnl::ke_flush_queued_dpcs);
thunk!(t_ke_bug_check_ex => ntoskrnl::ke_bug_check_ex);
thunk!(t_dbg_print_ex => ntoskrnl::dbg_print_ex);
thunk!(t_ke_stall_execution_processor => ntoskrnl::ke_stall_execution_processor);
thunk!(t_pc_initialize_adapter_driver => portcls::pc_initialize_adapter_driver);
thunk!(t_pc_add_adapter_device => portcls::pc_add_adapter_device);
thunk!(t_pc_new_port => portcls::pc_new_port);
thunk!(t_pc_new_service_group => portcls::pc_new_service_group);
thunk!(t_pc_new_interrupt_sync => portcls::pc_new_interrupt_sync);
thunk!(t_pc_register_subdevice => portcls::pc_register_subdevice);
thunk!(t_ex_allocate_timer => ex_timer::ex_allocate_timer);
thunk!(t_ex_set_timer => ex_timer::ex_set_timer);
thunk!(t_ex_cancel_timer => ex_timer::ex_cancel_timer);
thunk!(t_ex_delete_timer => ex_timer::ex_delete_timer);
thunk!(t_ke_insert_queue_dpc => ntoskrnl::ke_insert_queue_dpc);
thunk!(t_ke_remove_queue_dpc => ntoskrnl::ke_remove_queue_dpc);

/// (module, name, what it is, its thunk).
pub(crate) const TABLE: &[(&str, &str, Import, unsafe extern "win64" fn())] = &[
    (
        "ntoskrnl.exe",
        "ExAllocatePool2",
        Import::ExAllocatePool2,
        t_ex_allocate_pool2,
    ),
    (
        "ntoskrnl.exe",
        "ExFreePoolWithTag",
        Import::ExFreePoolWithTag,
        t_ex_free_pool_with_tag,
    ),
    (
        "ntoskrnl.exe",
        "KeAcquireSpinLockRaiseToDpc",
        Import::KeAcquireSpinLockRaiseToDpc,
        t_ke_acquire_spin_lock_raise_to_dpc,
    ),
    (
        "ntoskrnl.exe",
        "KeReleaseSpinLock",
        Import::KeReleaseSpinLock,
        t_ke_release_spin_lock,
    ),
    (
        "ntoskrnl.exe",
        "KeAcquireSpinLockAtDpcLevel",
        Import::KeAcquireSpinLockAtDpcLevel,
        t_ke_acquire_spin_lock_at_dpc_level,
    ),
    (
        "ntoskrnl.exe",
        "KeReleaseSpinLockFromDpcLevel",
        Import::KeReleaseSpinLockFromDpcLevel,
        t_ke_release_spin_lock_from_dpc_level,
    ),
    (
        "ntoskrnl.exe",
        "KeQueryInterruptTimePrecise",
        Import::KeQueryInterruptTimePrecise,
        t_ke_query_interrupt_time_precise,
    ),
    (
        "ntoskrnl.exe",
        "KeInitializeDpc",
        Import::KeInitializeDpc,
        t_ke_initialize_dpc,
    ),
    (
        "ntoskrnl.exe",
        "KeInitializeTimer",
        Import::KeInitializeTimer,
        t_ke_initialize_timer,
    ),
    (
        "ntoskrnl.exe",
        "KeSetTimer",
        Import::KeSetTimer,
        t_ke_set_timer,
    ),
    (
        "ntoskrnl.exe",
        "KeCancelTimer",
        Import::KeCancelTimer,
        t_ke_cancel_timer,
    ),
    (
        "ntoskrnl.exe",
        "KeFlushQueuedDpcs",
        Import::KeFlushQueuedDpcs,
        t_ke_flush_queued_dpcs,
    ),
    (
        "ntoskrnl.exe",
        "KeBugCheckEx",
        Import::KeBugCheckEx,
        t_ke_bug_check_ex,
    ),
    (
        "ntoskrnl.exe",
        "DbgPrintEx",
        Import::DbgPrintEx,
        t_dbg_print_ex,
    ),
    (
        "HAL.dll",
        "KeStallExecutionProcessor",
        Import::KeStallExecutionProcessor,
        t_ke_stall_execution_processor,
    ),
    (
        "portcls.sys",
        "PcInitializeAdapterDriver",
        Import::PcInitializeAdapterDriver,
        t_pc_initialize_adapter_driver,
    ),
    (
        "portcls.sys",
        "PcAddAdapterDevice",
        Import::PcAddAdapterDevice,
        t_pc_add_adapter_device,
    ),
    ("portcls.sys", "PcNewPort", Import::PcNewPort, t_pc_new_port),
    (
        "portcls.sys",
        "PcNewServiceGroup",
        Import::PcNewServiceGroup,
        t_pc_new_service_group,
    ),
    (
        "portcls.sys",
        "PcNewInterruptSync",
        Import::PcNewInterruptSync,
        t_pc_new_interrupt_sync,
    ),
    (
        "portcls.sys",
        "PcRegisterSubdevice",
        Import::PcRegisterSubdevice,
        t_pc_register_subdevice,
    ),
    (
        "ntoskrnl.exe",
        "ExAllocateTimer",
        Import::ExAllocateTimer,
        t_ex_allocate_timer,
    ),
    (
        "ntoskrnl.exe",
        "ExSetTimer",
        Import::ExSetTimer,
        t_ex_set_timer,
    ),
    (
        "ntoskrnl.exe",
        "ExCancelTimer",
        Import::ExCancelTimer,
        t_ex_cancel_timer,
    ),
    (
        "ntoskrnl.exe",
        "ExDeleteTimer",
        Import::ExDeleteTimer,
        t_ex_delete_timer,
    ),
    (
        "ntoskrnl.exe",
        "KeInsertQueueDpc",
        Import::KeInsertQueueDpc,
        t_ke_insert_queue_dpc,
    ),
    (
        "ntoskrnl.exe",
        "KeRemoveQueueDpc",
        Import::KeRemoveQueueDpc,
        t_ke_remove_queue_dpc,
    ),
];

/// The address an image's import of `dll!name` binds to (module names compare without case,
/// as the loader's do).
pub(crate) fn resolve(dll: &str, name: &str) -> Option<usize> {
    TABLE
        .iter()
        .find(|(d, n, _, _)| d.eq_ignore_ascii_case(dll) && *n == name)
        .map(|&(_, _, _, thunk)| thunk as usize)
}

/// An import's name by its counter index.
pub(crate) fn name_of(index: usize) -> &'static str {
    TABLE.get(index).map_or("?", |(_, n, _, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each import's counter is its enum value: the table must list them in enum order.
    #[test]
    fn the_table_is_in_enum_order_and_binds_every_name_once() {
        for (i, &(dll, name, import, thunk)) in TABLE.iter().enumerate() {
            assert_eq!(import as usize, i, "{name}");
            assert_eq!(name_of(i), name);
            assert_eq!(resolve(dll, name), Some(thunk as usize));
            assert_eq!(
                resolve(&dll.to_ascii_uppercase(), name),
                Some(thunk as usize)
            );
        }
        assert_eq!(resolve("ntoskrnl.exe", "KeBugCheck"), None);
        assert_eq!(resolve("hal.dll", "ExAllocatePool2"), None);
    }

    /// The image's import lists (imports/*.def) are exactly what this table implements.
    #[test]
    fn the_table_is_what_the_def_files_allow() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../imports");
        let mut listed = Vec::new();
        for file in ["ntoskrnl.def", "hal.def", "portcls.def"] {
            let text = std::fs::read_to_string(format!("{root}/{file}")).expect("a .def file");
            let library = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("LIBRARY "))
                .expect("LIBRARY line")
                .trim()
                .to_string();
            let exports = text
                .lines()
                .skip_while(|l| l.trim() != "EXPORTS")
                .skip(1)
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with(';'));
            listed.extend(exports.map(|name| (library.clone(), name.to_string())));
        }
        let mut implemented: Vec<(String, String)> = TABLE
            .iter()
            .map(|(d, n, _, _)| (d.to_string(), n.to_string()))
            .collect();
        listed.sort();
        implemented.sort();
        assert_eq!(listed, implemented);
    }
}
