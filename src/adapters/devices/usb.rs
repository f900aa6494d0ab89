//! USB HID transport through libusb (`rusb`): find the device by the profile's ids, claim its HID
//! interface (detaching the kernel driver only when one is bound), read the interrupt endpoint
//! with a timeout, release the interface when the session ends.

use std::time::Duration;

use rusb::{Context, DeviceHandle, Direction, TransferType, UsbContext};

use super::profile::DeviceProfile;
use super::{DeviceError, Session};
use crate::core::frame::descriptor::{ReportDescriptor, parse_report_descriptor};

const HID_CLASS: u8 = 0x03;
/// How long one interrupt read waits before the loop checks for shutdown and MRZ timeouts.
pub const READ_POLL: Duration = Duration::from_millis(20);
const CONTROL_TIMEOUT: Duration = Duration::from_millis(200);
const REPORT_BYTES_MAX: usize = 64;

/// An open, claimed HID interface.
pub struct UsbSession {
    handle: DeviceHandle<Context>,
    interface: u8,
    endpoint: u8,
    /// The endpoint's packet size: libusb submits reads of exactly this length.
    packet_len: usize,
    buf: [u8; REPORT_BYTES_MAX],
    /// The parsed report descriptor, when the device returned one.
    pub descriptor: Option<ReportDescriptor>,
}

/// Opens the first device matching one of the profile's USB ids and claims its HID interface.
pub fn open(profile: &DeviceProfile) -> Result<UsbSession, DeviceError> {
    // Never the global context: it panics where there is no USB subsystem.
    let context = Context::new().map_err(|e| DeviceError::Open {
        path: "usb".into(),
        why: format!("no USB subsystem ({e})"),
    })?;
    let devices = context
        .devices()
        .map_err(|e| DeviceError::Gone(format!("usb enumeration: {e}")))?;
    let device = devices
        .iter()
        .find(|d| {
            d.device_descriptor().is_ok_and(|desc| {
                profile
                    .usb
                    .iter()
                    .any(|id| id.vendor == desc.vendor_id() && id.product == desc.product_id())
            })
        })
        .ok_or_else(|| DeviceError::Open {
            path: ids(profile),
            why: "no such USB device".into(),
        })?;
    let config = device
        .active_config_descriptor()
        .map_err(|e| DeviceError::Open {
            path: ids(profile),
            why: format!("config descriptor: {e}"),
        })?;
    let (interface, endpoint, packet_len) = config
        .interfaces()
        .flat_map(|i| i.descriptors())
        .filter(|d| d.class_code() == HID_CLASS)
        .find_map(|d| {
            d.endpoint_descriptors()
                .find(|e| {
                    e.direction() == Direction::In && e.transfer_type() == TransferType::Interrupt
                })
                .map(|e| {
                    (
                        d.interface_number(),
                        e.address(),
                        usize::from(e.max_packet_size()),
                    )
                })
        })
        .ok_or_else(|| DeviceError::Open {
            path: ids(profile),
            why:
                "no HID interface with an interrupt IN endpoint: profile does not match the device"
                    .into(),
        })?;
    let handle = device.open().map_err(|e| DeviceError::Open {
        path: ids(profile),
        why: format!("open: {e} (udev group access?)"),
    })?;
    // Auto-detach would issue an ioctl that fails where no driver is bound; detach only when needed.
    if handle.kernel_driver_active(interface).unwrap_or(false) {
        handle
            .detach_kernel_driver(interface)
            .map_err(|e| DeviceError::Open {
                path: ids(profile),
                why: format!("detach kernel driver: {e}"),
            })?;
    }
    handle
        .claim_interface(interface)
        .map_err(|e| DeviceError::Open {
            path: ids(profile),
            why: format!("claim interface {interface}: {e}"),
        })?;
    let descriptor = read_report_descriptor(&handle, interface);
    Ok(UsbSession {
        handle,
        interface,
        endpoint,
        packet_len: packet_len.clamp(1, REPORT_BYTES_MAX),
        buf: [0; REPORT_BYTES_MAX],
        descriptor,
    })
}

/// GET_DESCRIPTOR(Report) on the interface; `None` when the device does not answer.
fn read_report_descriptor(
    handle: &DeviceHandle<Context>,
    interface: u8,
) -> Option<ReportDescriptor> {
    let mut buf = [0u8; 1024];
    let request_type = rusb::request_type(
        Direction::In,
        rusb::RequestType::Standard,
        rusb::Recipient::Interface,
    );
    let n = handle
        .read_control(
            request_type,
            0x06,
            0x2200,
            u16::from(interface),
            &mut buf,
            CONTROL_TIMEOUT,
        )
        .ok()?;
    match parse_report_descriptor(buf.get(..n)?) {
        Ok(descriptor) => Some(descriptor),
        Err(e) => {
            tracing::warn!(error = %e, "unreadable HID report descriptor, using the profile's layout");
            None
        }
    }
}

fn ids(profile: &DeviceProfile) -> String {
    profile
        .usb
        .iter()
        .map(|id| format!("{:04x}:{:04x}", id.vendor, id.product))
        .collect::<Vec<_>>()
        .join(",")
}

impl Session for UsbSession {
    fn read(&mut self) -> Result<Option<&[u8]>, DeviceError> {
        let buf = self.buf.get_mut(..self.packet_len).unwrap_or_default();
        match self.handle.read_interrupt(self.endpoint, buf, READ_POLL) {
            Ok(n) => Ok(self.buf.get(..n)),
            Err(rusb::Error::Timeout | rusb::Error::Interrupted) => Ok(None),
            Err(e) => Err(DeviceError::Gone(format!("interrupt read: {e}"))),
        }
    }

    fn write(&mut self, _bytes: &[u8]) -> Result<(), DeviceError> {
        Err(DeviceError::Init(
            "writing to a HID scanner is not supported".into(),
        ))
    }

    fn unread(&mut self, _bytes: &[u8]) {
        // HID scanners have no init sequence, so nothing is read ahead.
    }
}

impl Drop for UsbSession {
    fn drop(&mut self) {
        // Best effort: the device may already be gone.
        let _ = self.handle.release_interface(self.interface);
    }
}
