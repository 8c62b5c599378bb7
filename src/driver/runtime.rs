//! Symbols every Rust kernel image needs that nothing else supplies (docs/cross-build.md):
//! `_fltused` and the panic handler. memcpy/memset come from compiler-builtins (`mem` feature).

/// The MSVC toolchain's marker that floating point is used; the kernel image has no CRT.
/// (wdk-sys defines it on the WDK build.)
#[cfg(not(feature = "wdk"))]
#[unsafe(no_mangle)]
#[used]
pub static _fltused: i32 = 0;

/// The WDK build's panic handler: wdk-panic's (a bug check).
#[cfg(feature = "wdk")]
extern crate wdk_panic;

/// The bug-check code of a panic: "DMUS" in ASCII. A panic is a bug in this driver; stopping
/// the machine with a recognisable code (and the source line as a parameter) is better than
/// returning into a corrupted state or hanging a CPU at raised IRQL.
#[cfg(not(feature = "wdk"))]
const PANIC_BUGCHECK: u32 = u32::from_be_bytes(*b"DMUS");

#[cfg(not(feature = "wdk"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let line = info.location().map_or(0, |l| l.line() as usize);
    let file = info
        .location()
        .map_or(core::ptr::null(), |l| l.file().as_ptr());
    // SAFETY: KeBugCheckEx never returns; its parameters are only recorded in the crash dump.
    unsafe { crate::abi::KeBugCheckEx(PANIC_BUGCHECK, line, file as usize, 0, 0) }
}
