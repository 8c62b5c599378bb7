//! NTSTATUS (ntstatus.h) and the values this driver returns or expects.

/// ntdef.h `NTSTATUS`: negative is an error, 0..=0x3fffffff success, 0x40000000.. information.
pub type NTSTATUS = i32;

/// `NT_SUCCESS(Status)`.
#[inline]
pub const fn NT_SUCCESS(status: NTSTATUS) -> bool {
    status >= 0
}

macro_rules! statuses {
    ($($(#[$m:meta])* $name:ident = $v:literal;)*) => {
        $($(#[$m])* pub const $name: NTSTATUS = $v as u32 as i32;)*
        /// Every status of this module with its header name (the cross-build checks each one
        /// against ntstatus.h; diagnostics print the name).
        pub const ALL_STATUSES: &[(&str, NTSTATUS)] = &[$((stringify!($name), $name)),*];
    };
}

statuses! {
    STATUS_SUCCESS = 0x0000_0000;
    STATUS_PENDING = 0x0000_0103;
    /// Success, with some requested values changed (KSPROPERTY_SYNTH_PORTPARAMETERS).
    STATUS_NOT_ALL_ASSIGNED = 0x0000_0106;
    STATUS_BUFFER_OVERFLOW = 0x8000_0005;
    STATUS_UNSUCCESSFUL = 0xC000_0001;
    STATUS_NOT_IMPLEMENTED = 0xC000_0002;
    STATUS_INVALID_PARAMETER = 0xC000_000D;
    STATUS_INVALID_DEVICE_REQUEST = 0xC000_0010;
    STATUS_NO_MEMORY = 0xC000_0017;
    STATUS_BUFFER_TOO_SMALL = 0xC000_0023;
    STATUS_OBJECT_NAME_NOT_FOUND = 0xC000_0034;
    STATUS_DATA_OVERRUN = 0xC000_003C;
    STATUS_DATA_ERROR = 0xC000_003E;
    STATUS_INSUFFICIENT_RESOURCES = 0xC000_009A;
    STATUS_DEVICE_NOT_CONNECTED = 0xC000_009D;
    STATUS_DEVICE_REMOVED = 0xC000_02B6;
    STATUS_DEVICE_NOT_READY = 0xC000_00A3;
    STATUS_IO_TIMEOUT = 0xC000_00B5;
    STATUS_NOT_SUPPORTED = 0xC000_00BB;
    STATUS_INVALID_ADDRESS = 0xC000_0141;
    STATUS_DEVICE_CONFIGURATION_ERROR = 0xC000_0182;
    STATUS_INVALID_DEVICE_STATE = 0xC000_0184;
    STATUS_INVALID_BUFFER_SIZE = 0xC000_0206;
    STATUS_NOT_FOUND = 0xC000_0225;
    STATUS_NO_MATCH = 0xC000_0272;
    STATUS_NOINTERFACE = 0xC000_02B9;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_follows_the_top_bits() {
        assert!(NT_SUCCESS(STATUS_SUCCESS));
        assert!(NT_SUCCESS(STATUS_PENDING));
        assert!(!NT_SUCCESS(STATUS_BUFFER_OVERFLOW)); // a warning is not success
        assert!(!NT_SUCCESS(STATUS_NOINTERFACE));
        assert_eq!(STATUS_INSUFFICIENT_RESOURCES, -1_073_741_670);
    }
}
