//! How the capture intake asks the port for service: IPortDMus::Notify, which the ISR may
//! call (docs/dmus-contract.md section 3), and which makes the port's DPC call the capture stream's
//! PutMessage(NULL) (section 4).

use crate::abi::{IPortDMus, IServiceGroup};
use crate::com::ComPtr;

/// A request for service: "bytes are waiting in the capture ring". Callable at any IRQL up to
/// DIRQL; must not block or allocate (it queues a DPC, at most).
pub trait Notify: Send + Sync {
    fn notify(&self);
}

/// The port: IPortDMus::Notify with the miniport's service group (or NULL, the port's own).
#[derive(Debug)]
pub(crate) struct PortNotify {
    port: ComPtr<IPortDMus>,
    group: Option<ComPtr<IServiceGroup>>,
}

impl PortNotify {
    pub(crate) fn new(port: ComPtr<IPortDMus>, group: Option<ComPtr<IServiceGroup>>) -> Self {
        PortNotify { port, group }
    }
}

impl Notify for PortNotify {
    fn notify(&self) {
        // Notify is callable from the ISR (section 3).
        self.port.notify(self.group.as_ref());
    }
}
