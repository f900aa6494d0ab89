//! HID report descriptor parsing (HID 1.11 §6.2.2): enough to tell a boot keyboard from a
//! bar code scanner and to find the scanned-data input report's ID and size.

use super::FrameError;

/// Usage page of HID POS bar code scanners.
pub const USAGE_PAGE_POS_SCANNER: u16 = 0x8c;
const USAGE_PAGE_GENERIC_DESKTOP: u16 = 0x01;
const USAGE_KEYBOARD: u32 = 0x06;
/// Descriptors are at most a few hundred bytes; more is hostile or broken.
pub const DESCRIPTOR_BYTES_MAX: usize = 4096;

/// One input report declared by the descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputReport {
    /// The report ID, or `None` when the device uses no report IDs.
    pub report_id: Option<u8>,
    /// Total size of the report's fields in bits (report ID excluded).
    pub bits: u32,
    /// Usage page of the application collection that holds the report.
    pub usage_page: u16,
}

impl InputReport {
    /// Size in bytes, rounded up.
    pub fn byte_len(&self) -> usize {
        usize::try_from(self.bits.div_ceil(8)).unwrap_or(usize::MAX)
    }
}

/// What the parsed descriptor says about the device.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportDescriptor {
    /// Input reports, one per report ID, in order of first appearance.
    pub input_reports: Vec<InputReport>,
    /// `(usage page, usage)` of each top-level application collection.
    pub applications: Vec<(u16, u32)>,
}

impl ReportDescriptor {
    /// True when an application collection is a keyboard (Generic Desktop / Keyboard).
    pub fn is_keyboard(&self) -> bool {
        self.applications
            .contains(&(USAGE_PAGE_GENERIC_DESKTOP, USAGE_KEYBOARD))
    }

    /// True when an application collection is on the HID POS bar code scanner page.
    pub fn is_pos_scanner(&self) -> bool {
        self.applications
            .iter()
            .any(|&(page, _)| page == USAGE_PAGE_POS_SCANNER)
    }

    /// The largest input report in a POS scanner collection: the scanned-data report.
    pub fn pos_input_report(&self) -> Option<&InputReport> {
        self.input_reports
            .iter()
            .filter(|r| r.usage_page == USAGE_PAGE_POS_SCANNER)
            .max_by_key(|r| r.bits)
    }
}

/// Parses a report descriptor. Long items are skipped; push/pop are not needed by scanners.
pub fn parse_report_descriptor(bytes: &[u8]) -> Result<ReportDescriptor, FrameError> {
    let bad = |at: usize, why: &str| FrameError::BadReport {
        reason: format!("report descriptor byte {at}: {why}"),
    };
    if bytes.len() > DESCRIPTOR_BYTES_MAX {
        return Err(bad(DESCRIPTOR_BYTES_MAX, "descriptor too long"));
    }
    let mut parsed = ReportDescriptor::default();
    let (mut usage_page, mut report_size, mut report_count) = (0u16, 0u32, 0u32);
    let mut report_id: Option<u8> = None;
    let mut usage: Option<u32> = None;
    let mut depth = 0usize;
    let mut app_page = 0u16;
    let mut at = 0;
    while let Some(&prefix) = bytes.get(at) {
        if prefix == 0xfe {
            let len = bytes
                .get(at + 1)
                .ok_or_else(|| bad(at, "truncated long item"))?;
            at += 3 + usize::from(*len);
            continue;
        }
        let size = match prefix & 0x03 {
            3 => 4,
            n => usize::from(n),
        };
        let data = bytes
            .get(at + 1..at + 1 + size)
            .ok_or_else(|| bad(at, "truncated item"))?;
        let value = data
            .iter()
            .rev()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        match (prefix >> 2) & 0x03 {
            // Main items.
            0 => match prefix >> 4 {
                0x8 => {
                    let bits = report_size.saturating_mul(report_count);
                    match parsed
                        .input_reports
                        .iter_mut()
                        .find(|r| r.report_id == report_id)
                    {
                        Some(report) => report.bits = report.bits.saturating_add(bits),
                        None => parsed.input_reports.push(InputReport {
                            report_id,
                            bits,
                            usage_page: app_page,
                        }),
                    }
                }
                0xa => {
                    if depth == 0 && value == 1 {
                        app_page = usage_page;
                        parsed
                            .applications
                            .push((usage_page, usage.map_or(0, |u| u & 0xffff)));
                    }
                    depth += 1;
                }
                0xc => {
                    depth = depth
                        .checked_sub(1)
                        .ok_or_else(|| bad(at, "unbalanced end collection"))?
                }
                _ => {}
            },
            // Global items.
            1 => match prefix >> 4 {
                0x0 => {
                    usage_page =
                        u16::try_from(value).map_err(|_| bad(at, "usage page over 16 bits"))?
                }
                0x7 => report_size = value,
                0x8 => {
                    report_id =
                        Some(u8::try_from(value).map_err(|_| bad(at, "report id over 8 bits"))?)
                }
                0x9 => report_count = value,
                _ => {}
            },
            // Local items.
            2 => {
                if prefix >> 4 == 0x0 {
                    usage = Some(value);
                }
            }
            _ => return Err(bad(at, "reserved item type")),
        }
        if (prefix >> 2) & 0x03 == 0 {
            usage = None;
        }
        at += 1 + size;
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The standard boot keyboard descriptor (HID 1.11 appendix E.6).
    const BOOT_KEYBOARD: &[u8] = &[
        0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7, 0x15, 0x00, 0x25,
        0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02, 0x95, 0x01, 0x75, 0x08, 0x81, 0x01, 0x95, 0x05,
        0x75, 0x01, 0x05, 0x08, 0x19, 0x01, 0x29, 0x05, 0x91, 0x02, 0x95, 0x01, 0x75, 0x03, 0x91,
        0x01, 0x95, 0x06, 0x75, 0x08, 0x15, 0x00, 0x25, 0x65, 0x05, 0x07, 0x19, 0x00, 0x29, 0x65,
        0x81, 0x00, 0xc0,
    ];

    /// A HID POS scanner: report 2, 63 bytes of input on page 0x8C.
    pub(crate) const POS_SCANNER: &[u8] = &[
        0x05, 0x8c, 0x09, 0x02, 0xa1, 0x01, 0x09, 0x12, 0xa1, 0x02, 0x85, 0x02, 0x15, 0x00, 0x26,
        0xff, 0x00, 0x75, 0x08, 0x95, 0x3f, 0x09, 0xfe, 0x81, 0x02, 0xc0, 0xc0,
    ];

    #[test]
    fn boot_keyboard_is_recognised() {
        let parsed = parse_report_descriptor(BOOT_KEYBOARD).expect("valid");
        assert!(parsed.is_keyboard());
        assert!(!parsed.is_pos_scanner());
        assert_eq!(parsed.input_reports[0].byte_len(), 8);
    }

    #[test]
    fn pos_scanner_report_id_and_size() {
        let parsed = parse_report_descriptor(POS_SCANNER).expect("valid");
        assert!(parsed.is_pos_scanner());
        let report = parsed.pos_input_report().expect("a scanned-data report");
        assert_eq!(report.report_id, Some(2));
        assert_eq!(report.byte_len(), 63);
    }

    #[test]
    fn broken_descriptors_are_errors() {
        assert!(parse_report_descriptor(&[0x05]).is_err());
        assert!(parse_report_descriptor(&[0xc0]).is_err());
        assert!(parse_report_descriptor(&[0xfe]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_report_descriptor(&bytes);
        }
    }
}
