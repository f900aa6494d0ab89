//! HID POS scanner input reports (usage page 0x8C): report ID, data length, AIM id, data and a
//! "more reports follow" bit; symbols longer than one report are assembled here.

use super::aim::AimId;
use super::descriptor::ReportDescriptor;
use super::{FRAME_BYTES_MAX, FrameError};

/// Where the fields sit in an input report (Honeywell and Access-IS layout by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HidPosLayout {
    /// Report ID of the scanned-data input report (byte 0).
    pub report_id: u8,
    /// Full report length, report ID included.
    pub report_len: usize,
    /// Offset of the data length byte.
    pub length_at: usize,
    /// Offset of the 3-byte AIM identifier.
    pub aim_at: usize,
    /// Offset of the data.
    pub data_at: usize,
    /// Offset of the byte whose bit 0 says "more reports follow".
    pub more_at: usize,
}

impl Default for HidPosLayout {
    fn default() -> Self {
        Self {
            report_id: 0x02,
            report_len: 64,
            length_at: 1,
            aim_at: 2,
            data_at: 5,
            more_at: 63,
        }
    }
}

impl HidPosLayout {
    /// The default layout, with the report ID and length taken from the device's report
    /// descriptor when it declares a bar code scanner input report.
    pub fn from_descriptor(descriptor: &ReportDescriptor) -> Self {
        let mut layout = Self::default();
        if let Some(report) = descriptor.pos_input_report() {
            if let Some(id) = report.report_id {
                layout.report_id = id;
            }
            let len = report.byte_len() + usize::from(report.report_id.is_some());
            if len > layout.data_at && len > layout.more_at {
                layout.report_len = len;
                layout.more_at = len - 1;
            }
        }
        layout
    }

    fn data_max(&self) -> usize {
        self.more_at.saturating_sub(self.data_at)
    }
}

/// One assembled symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HidSymbol {
    /// The AIM identifier of the first report, when the scanner sent one.
    pub aim: Option<AimId>,
    /// The symbol's data.
    pub data: Vec<u8>,
}

/// Assembles symbols from consecutive input reports.
#[derive(Debug, Clone)]
pub struct HidPosAssembler {
    layout: HidPosLayout,
    aim: Option<AimId>,
    data: Vec<u8>,
    overflow: bool,
    limit: usize,
}

impl HidPosAssembler {
    /// An assembler for one device.
    pub fn new(layout: HidPosLayout) -> Self {
        Self {
            layout,
            aim: None,
            data: Vec::new(),
            overflow: false,
            limit: FRAME_BYTES_MAX,
        }
    }

    /// The same assembler keeping symbols of at most `limit` bytes.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// True while a multi-report symbol is incomplete.
    pub fn pending(&self) -> bool {
        !self.data.is_empty() || self.overflow
    }

    /// Drops a partial symbol (after a disconnect), reporting it.
    pub fn reset(&mut self) -> Option<FrameError> {
        let cut = self.pending().then_some(FrameError::Cut {
            bytes: self.data.len(),
        });
        *self = Self::new(self.layout).with_limit(self.limit);
        cut
    }

    /// Feeds one input report; returns a symbol when its last report arrived.
    pub fn push_report(&mut self, report: &[u8]) -> Option<Result<HidSymbol, FrameError>> {
        let layout = self.layout;
        let bad = |reason: String| Some(Err(FrameError::BadReport { reason }));
        match report.first() {
            None => return bad("empty report".into()),
            Some(&id) if id != layout.report_id => {
                // Other reports (status, feature echoes) are not scanned data.
                return None;
            }
            Some(_) => {}
        }
        let (Some(&len), Some(&more)) = (report.get(layout.length_at), report.get(layout.more_at))
        else {
            return bad(format!(
                "report of {} bytes, expected {}",
                report.len(),
                layout.report_len
            ));
        };
        let len = usize::from(len);
        if len > layout.data_max() {
            self.reset();
            return bad(format!(
                "data length byte {len} exceeds the {} data bytes of a report",
                layout.data_max()
            ));
        }
        let data = report
            .get(layout.data_at..layout.data_at + len)
            .unwrap_or_default();
        if !self.pending() {
            self.aim = report
                .get(layout.aim_at..layout.aim_at + AimId::LEN)
                .and_then(AimId::parse);
        }
        if self.data.len() + data.len() > self.limit {
            self.overflow = true;
        } else {
            self.data.extend_from_slice(data);
        }
        if more & 0x01 != 0 {
            return None;
        }
        let symbol = HidSymbol {
            aim: self.aim.take(),
            data: std::mem::take(&mut self.data),
        };
        if std::mem::take(&mut self.overflow) {
            return Some(Err(FrameError::Overlong {
                limit: self.limit,
                dropped: symbol.data.len(),
            }));
        }
        (!symbol.data.is_empty()).then_some(Ok(symbol))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::frame::Symbology;
    use proptest::prelude::*;

    /// A report in the default layout.
    pub(crate) fn report(aim: &[u8; 3], data: &[u8], more: bool) -> Vec<u8> {
        let mut report = vec![0u8; 64];
        report[0] = 0x02;
        report[1] = u8::try_from(data.len()).expect("test data fits a report");
        report[2..5].copy_from_slice(aim);
        report[5..5 + data.len()].copy_from_slice(data);
        report[63] = u8::from(more);
        report
    }

    #[test]
    fn two_report_qr_symbol_like_the_umockdev_example() {
        let first = b"https://permits.example.invalid/v/0123456789abcdef012345";
        let mut assembler = HidPosAssembler::new(HidPosLayout::default());
        assert_eq!(assembler.push_report(&report(b"]Q1", first, true)), None);
        let symbol = assembler
            .push_report(&report(b"]Q1", b"6789abcdef?x=1", false))
            .expect("complete")
            .expect("valid");
        assert_eq!(symbol.aim.map(AimId::symbology), Some(Symbology::Qr));
        assert_eq!(
            symbol.data,
            b"https://permits.example.invalid/v/0123456789abcdef0123456789abcdef?x=1"
        );
        assert!(!assembler.pending());
    }

    #[test]
    fn bad_reports_are_reported_not_fatal() {
        let mut assembler = HidPosAssembler::new(HidPosLayout::default());
        assert!(matches!(
            assembler.push_report(&[0x02, 5]),
            Some(Err(FrameError::BadReport { .. }))
        ));
        let mut long = report(b"]Q1", b"x", false);
        long[1] = 200;
        assert!(matches!(
            assembler.push_report(&long),
            Some(Err(FrameError::BadReport { .. }))
        ));
        assert_eq!(assembler.push_report(&[0x05; 64]), None);
        assert!(assembler.push_report(&[]).is_some());
    }

    #[test]
    fn a_stuck_more_bit_is_bounded() {
        let mut assembler = HidPosAssembler::new(HidPosLayout::default());
        for _ in 0..(FRAME_BYTES_MAX / 56 + 2) {
            assert_eq!(
                assembler.push_report(&report(b"]Q1", &[b'a'; 56], true)),
                None
            );
        }
        assert!(matches!(
            assembler.push_report(&report(b"]Q1", b"z", false)),
            Some(Err(FrameError::Overlong { .. }))
        ));
    }

    proptest! {
        #[test]
        fn any_payload_split_over_reports_reassembles(data in proptest::collection::vec(any::<u8>(), 1..500)) {
            let mut assembler = HidPosAssembler::new(HidPosLayout::default());
            let chunks: Vec<&[u8]> = data.chunks(56).collect();
            let mut result = None;
            for (i, chunk) in chunks.iter().enumerate() {
                result = assembler.push_report(&report(b"]L2", chunk, i + 1 < chunks.len()));
            }
            let symbol = result.expect("complete").expect("valid");
            prop_assert_eq!(symbol.data, data);
        }

        #[test]
        fn arbitrary_reports_never_panic(reports in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..20)) {
            let mut assembler = HidPosAssembler::new(HidPosLayout::default());
            for report in &reports {
                let _ = assembler.push_report(report);
            }
        }
    }
}
