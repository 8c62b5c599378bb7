//! `interface!`: declares a COM interface the way `DECLARE_INTERFACE_` does in C: a struct whose
//! only field points at a flat vtable that starts with the three IUnknown slots.
//!
//! An interface derived from another (`DECLARE_INTERFACE_(IAllocatorMXF, IMXF)`) follows its
//! base in the same invocation, after a `:`, and lists only its own methods; its vtable has the
//! base's slots first, as in C, each typed on the derived interface:
//! ```ignore
//! interface! {
//!     IMXF, IMXFVtbl, PMXF { fn SetState(State: KSSTATE) -> NTSTATUS; /* ... */ }
//!     /// The allocator.
//!     : IAllocatorMXF, IAllocatorMXFVtbl, PAllocatorMXF { fn GetMessage(/* ... */) -> NTSTATUS; }
//! }
//! ```
//!
//! In every Windows-target build the macro also proves each vtable against bindgen's view of the
//! real headers (`layout`): same size, the same slots in the same order, nothing missing or extra
//! on either side (both are destructured exhaustively), each slot at `index * size_of::<usize>()`.

macro_rules! interface {
    // After the first, each interface of an invocation derives from the one before it: it is
    // declared with the methods inherited so far followed by its own.
    (@chain [$($inherited:tt)*]) => {};
    (
        @chain [$($inherited:tt)*]
        $(#[$meta:meta])*
        : $name:ident, $vtbl:ident, $ptr:ident { $($own:tt)* }
        $($derived:tt)*
    ) => {
        interface!(@one $(#[$meta])* $name, $vtbl, $ptr { $($inherited)* $($own)* });
        interface!(@chain [$($inherited)* $($own)*] $($derived)*);
    };
    (
        @one
        $(#[$meta:meta])*
        $name:ident, $vtbl:ident, $ptr:ident {
            $($(#[$fmeta:meta])* fn $method:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;)*
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        pub struct $name {
            pub lpVtbl: *const $vtbl,
        }

        #[doc = concat!("The vtable of [`", stringify!($name), "`], slot for slot as in the header.")]
        #[$crate::abi::win_abi]
        #[repr(C)]
        pub struct $vtbl {
            pub QueryInterface: unsafe extern "system" fn(
                This: *mut $name,
                riid: $crate::abi::REFIID,
                ppvObject: *mut *mut ::core::ffi::c_void,
            ) -> $crate::abi::NTSTATUS,
            pub AddRef: unsafe extern "system" fn(This: *mut $name) -> u32,
            pub Release: unsafe extern "system" fn(This: *mut $name) -> u32,
            $($(#[$fmeta])* pub $method: unsafe extern "system" fn(This: *mut $name $(, $arg: $ty)*) $(-> $ret)?,)*
        }

        pub type $ptr = *mut $name;

        #[cfg(target_os = "windows")]
        const _: () = {
            use ::core::mem::{offset_of, size_of, align_of};
            use $crate::abi::layout::sys;
            const SLOT: usize = size_of::<usize>();
            assert!(size_of::<$vtbl>() == size_of::<sys::$vtbl>(), concat!(stringify!($vtbl), ": size differs from the header"));
            assert!(align_of::<$vtbl>() == align_of::<sys::$vtbl>(), concat!(stringify!($vtbl), ": alignment differs from the header"));
            assert!(size_of::<$name>() == size_of::<sys::$name>(), concat!(stringify!($name), ": size differs from the header"));
            let mut index = 0usize;
            $crate::abi::interface::check_slot!($vtbl, QueryInterface, index);
            $crate::abi::interface::check_slot!($vtbl, AddRef, index);
            $crate::abi::interface::check_slot!($vtbl, Release, index);
            $($crate::abi::interface::check_slot!($vtbl, $method, index);)*
            assert!(size_of::<$vtbl>() == index * SLOT, concat!(stringify!($vtbl), ": slot count differs"));
            // Exhaustive destructuring: a slot the header has and we lack (or the reverse)
            // does not compile.
            #[allow(dead_code, clippy::too_many_arguments)]
            fn exhaustive(ours: $vtbl, theirs: sys::$vtbl) {
                let $vtbl { QueryInterface: _, AddRef: _, Release: _, $($method: _,)* } = ours;
                let sys::$vtbl { QueryInterface: _, AddRef: _, Release: _, $($method: _,)* } = theirs;
            }
        };
    };
    (
        $(#[$meta:meta])*
        $name:ident, $vtbl:ident, $ptr:ident { $($own:tt)* }
        $($derived:tt)*
    ) => {
        interface!(@one $(#[$meta])* $name, $vtbl, $ptr { $($own)* });
        interface!(@chain [$($own)*] $($derived)*);
    };
}

/// One vtable slot: the same offset in both, and the next index in order.
#[cfg(target_os = "windows")]
macro_rules! check_slot {
    ($vtbl:ident, $slot:ident, $index:ident) => {
        assert!(
            offset_of!($vtbl, $slot) == offset_of!(sys::$vtbl, $slot),
            concat!(
                stringify!($vtbl),
                "::",
                stringify!($slot),
                ": offset differs from the header"
            )
        );
        assert!(
            offset_of!($vtbl, $slot) == $index * SLOT,
            concat!(stringify!($vtbl), "::", stringify!($slot), ": out of order")
        );
        $index += 1;
    };
}

#[cfg(target_os = "windows")]
pub(crate) use check_slot;
