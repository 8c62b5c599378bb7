//! IPowerNotify (portcls.h): PortCls tells the miniport of device power changes, so that it can
//! re-initialise the UART on return to D0.

use super::POWER_STATE;

interface! {
    IPowerNotify, IPowerNotifyVtbl, PPOWERNOTIFY {
        fn PowerChangeNotify(PowerState: POWER_STATE);
    }
}
