//! A capture sink for the tests: an IMXF that records every event it is given (bytes, time,
//! completeness, channel group) and gives the chain back to the allocator, or keeps it while
//! told to hold (so that the allocator runs dry).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use dmus_miniport::abi::{
    DMUS_KEF_EVENT_INCOMPLETE, IAllocatorMXF, IID_IMXF, IMXF, IMXFVtbl, KSSTATE, KernelEvent,
    NTSTATUS, PDMUS_KERNEL_EVENT, PMXF, STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
};
use dmus_miniport::com::{ComClass, ComPtr, InterfaceEntry};
use dmus_miniport::com_interfaces;
use dmus_miniport::kernel::PoolTag;
use dmus_miniport::mxf::Mxf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    pub bytes: Vec<u8>,
    pub time: i64,
    pub complete: bool,
    pub group: u16,
}

pub struct Sink {
    allocator: ComPtr<IAllocatorMXF>,
    pub got: Mutex<Vec<Got>>,
    pub chains: Mutex<u32>,
    /// While set, the sink keeps the chains it receives (the allocator stays dry).
    pub hold: AtomicBool,
    kept: Mutex<Vec<usize>>,
    /// Called on each chain before it is recorded (e.g. to re-enter the stream, as a second
    /// CPU could while the stream delivers).
    pub before_record: Mutex<Option<Box<dyn FnMut() + Send>>>,
}

impl Sink {
    /// A sink that gives what it gets back to `allocator`.
    pub fn new(allocator: ComPtr<IAllocatorMXF>) -> Self {
        Sink {
            allocator,
            got: Mutex::new(Vec::new()),
            chains: Mutex::new(0),
            hold: AtomicBool::new(false),
            kept: Mutex::new(Vec::new()),
            before_record: Mutex::new(None),
        }
    }

    /// The bytes of every event received, in order.
    pub fn bytes(&self) -> Vec<u8> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .flat_map(|g| g.bytes.iter().copied())
            .collect()
    }

    /// Gives every kept chain back to the allocator.
    pub fn release_kept(&self) {
        self.hold.store(false, Ordering::Release);
        for chain in std::mem::take(&mut *self.kept.lock().unwrap()) {
            // SAFETY: a COM call on the allocator we hold; a chain the sink kept.
            unsafe {
                (self.allocator.vtbl().PutMessage)(
                    self.allocator.as_ptr(),
                    chain as *mut KernelEvent,
                )
            };
        }
    }
}

impl Mxf for Sink {
    fn set_state(&self, _state: KSSTATE) -> NTSTATUS {
        STATUS_SUCCESS
    }
    fn put_message(&self, event: PDMUS_KERNEL_EVENT) -> NTSTATUS {
        let hook = self.before_record.lock().unwrap().take();
        if let Some(mut hook) = hook {
            hook();
            *self.before_record.lock().unwrap() = Some(hook);
        }
        *self.chains.lock().unwrap() += 1;
        let mut e = event;
        while !e.is_null() {
            // SAFETY: a chain handed to us: read it before giving it away.
            let ev: &KernelEvent = unsafe { &*e };
            let bytes = match ev.short_data() {
                Some(b) => b.to_vec(),
                // SAFETY: a long event from the stream: pbData holds cbEvent bytes.
                None => unsafe {
                    std::slice::from_raw_parts(ev.uData.pbData, ev.cbEvent as usize).to_vec()
                },
            };
            assert!(!ev.is_package());
            assert_eq!(ev.cbStruct, 40);
            self.got.lock().unwrap().push(Got {
                bytes,
                time: ev.ullPresTime100ns,
                complete: ev.usFlags & DMUS_KEF_EVENT_INCOMPLETE == 0,
                group: ev.usChannelGroup,
            });
            e = ev.pNextEvt;
        }
        if self.hold.load(Ordering::Acquire) {
            self.kept.lock().unwrap().push(event as usize);
            return STATUS_SUCCESS;
        }
        // SAFETY: a COM call on the allocator we hold.
        unsafe { (self.allocator.vtbl().PutMessage)(self.allocator.as_ptr(), event) }
    }
    fn connect_output(&self, _sink: Option<ComPtr<IMXF>>) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
    fn disconnect_output(&self, _sink: PMXF) -> NTSTATUS {
        STATUS_UNSUCCESSFUL
    }
}

// SAFETY: one interface, built by IMXFVtbl::new for slot 0.
unsafe impl ComClass for Sink {
    type Primary = IMXF;
    const TAG: PoolTag = PoolTag::new(b"TSnk");
    const INTERFACES: &'static [InterfaceEntry] =
        com_interfaces![Sink; [IID_IMXF] => IMXFVtbl::new];
}
