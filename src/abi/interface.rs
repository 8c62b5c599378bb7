//! `interface!`: declares a COM interface the way `DECLARE_INTERFACE_` does in C: a struct whose
//! only field points at a flat vtable that starts with the three IUnknown slots.
//!
//! In every Windows-target build the macro also proves the vtable against bindgen's view of the
//! real headers (`layout`): same size, the same slots in the same order, nothing missing or extra
//! on either side (both are destructured exhaustively), each slot at `index * size_of::<usize>()`.

macro_rules! interface {
    (
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

        impl $vtbl {
            /// The slot names in order, as the header declares them.
            pub const SLOTS: &'static [&'static str] =
                &["QueryInterface", "AddRef", "Release" $(, stringify!($method))*];
        }

        #[cfg(target_os = "windows")]
        const _: () = {
            use ::core::mem::{offset_of, size_of, align_of};
            use $crate::abi::layout::sys;
            const SLOT: usize = size_of::<usize>();
            assert!(size_of::<$vtbl>() == size_of::<sys::$vtbl>(), concat!(stringify!($vtbl), ": size differs from the header"));
            assert!(align_of::<$vtbl>() == align_of::<sys::$vtbl>(), concat!(stringify!($vtbl), ": alignment differs from the header"));
            assert!(size_of::<$vtbl>() == <$vtbl>::SLOTS.len() * SLOT, concat!(stringify!($vtbl), ": slot count differs"));
            assert!(size_of::<$name>() == size_of::<sys::$name>(), concat!(stringify!($name), ": size differs from the header"));
            let mut _index = 0usize;
            $crate::abi::interface::check_slot!($vtbl, QueryInterface, _index);
            $crate::abi::interface::check_slot!($vtbl, AddRef, _index);
            $crate::abi::interface::check_slot!($vtbl, Release, _index);
            $($crate::abi::interface::check_slot!($vtbl, $method, _index);)*
            // Exhaustive destructuring: a slot the header has and we lack (or the reverse)
            // does not compile.
            #[allow(dead_code, clippy::too_many_arguments)]
            fn exhaustive(ours: $vtbl, theirs: sys::$vtbl) {
                let $vtbl { QueryInterface: _, AddRef: _, Release: _, $($method: _,)* } = ours;
                let sys::$vtbl { QueryInterface: _, AddRef: _, Release: _, $($method: _,)* } = theirs;
            }
        };
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
