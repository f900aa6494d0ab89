//! The demo's passport chips: a CSCA and document signer made at start (by the tests' own PKI
//! code, `adapters::chip_sim::test_pki`), and for each traveller a simulated chip behind the same reader port
//! a PC/SC reader serves: genuine, with an altered DG1, or a clone without the chip's key.

use std::collections::BTreeMap;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use crate::adapters::chip_sim::test_pki as chip_pki;
use crate::adapters::chip_sim::{ChipProfile, SimulatedChip, dg14_for, ef_com};
use crate::core::chip::crypto::Cipher;
use crate::core::chip::lds::LdsFile;
use crate::core::lds::dg2::{self, ImageFormat};
use chip_pki::{CertSpec, Hash, KeyKind, SignedSpec, Style, Y2020, YEAR};

/// What the chip of a demo passport is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChipKind {
    /// Issued and signed as it reads.
    Genuine,
    /// DG1 rewritten after signing (another name): passive authentication fails.
    AlteredDg1,
    /// Every file copied, DG14 and DG15 included, onto a chip without the original's private
    /// keys: chip and active authentication fail. The copied passport's face is JPEG 2000, as
    /// some states encode theirs, so the console shows that path too.
    Cloned,
}

/// The demo state's CSCA and document signer, and the face its passports hold.
pub struct DemoPki {
    csca: X509,
    dsc: X509,
    dsc_key: PKey<Private>,
    face: Vec<u8>,
}

/// The demo face's width and height in pixels (the JPEG 2000 one's too).
const FACE_SIZE: (u16, u16) = (120, 160);

/// A synthetic portrait (no real person) in JPEG 2000, written once by OpenJPEG through Pillow:
/// the Rust ecosystem has decoders but no well-kept encoder.
const JPEG2000_FACE: &[u8] = include_bytes!("synthetic-face-120x160.jp2");

/// A drawn face (head, hair, eyes on a pale background) as JPEG, the picture DG2 holds.
fn demo_face() -> Result<Vec<u8>, String> {
    let (width, height) = (u32::from(FACE_SIZE.0), u32::from(FACE_SIZE.1));
    let inside = |x: u32, y: u32, cx: f32, cy: f32, rx: f32, ry: f32| {
        let (dx, dy) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
        dx * dx + dy * dy <= 1.0
    };
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let pixel = if inside(x, y, 45.0, 72.0, 5.0, 3.0) || inside(x, y, 75.0, 72.0, 5.0, 3.0) {
            [40, 40, 50]
        } else if inside(x, y, 60.0, 62.0, 40.0, 36.0) && y < 58 {
            [70, 50, 35]
        } else if inside(x, y, 60.0, 80.0, 36.0, 48.0) || inside(x, y, 60.0, 170.0, 58.0, 40.0) {
            [224, 186, 160]
        } else {
            [225, 232, 240]
        };
        image::Rgb(pixel)
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&image)
        .map_err(|e| format!("demo face: {e}"))?;
    Ok(jpeg)
}

impl DemoPki {
    /// A CSCA (valid 2020–2040), a document signer it certified (2024–2034), and the face.
    pub fn new() -> Result<Self, String> {
        let csca_key = chip_pki::key(KeyKind::P256, 0);
        let csca = chip_pki::certificate(&CertSpec::csca("AZ", 1), &csca_key, None);
        let dsc_key = chip_pki::key(KeyKind::Brainpool256, 1);
        let dsc = chip_pki::certificate(
            &CertSpec::dsc("AZ", 0x2A),
            &dsc_key,
            Some((&csca, &csca_key)),
        );
        Ok(Self {
            csca,
            dsc,
            dsc_key,
            face: demo_face()?,
        })
    }

    /// The CSCA certificate, DER, for the ledger's `csca_added` entry.
    pub fn csca_der(&self) -> Result<Vec<u8>, String> {
        self.csca.to_der().map_err(|e| e.to_string())
    }

    /// The chip of a passport whose printed zone is `lines`, opened by `mrz_information`.
    pub fn chip(
        &self,
        lines: &[String; 2],
        mrz_information: &str,
        kind: ChipKind,
    ) -> Result<SimulatedChip, String> {
        let zone = format!("{}\n{}", lines[0], lines[1]);
        let dg1 = chip_pki::dg1(&zone);
        let dg2 = match kind {
            ChipKind::Cloned => dg2::encode_19794(ImageFormat::Jpeg2000, FACE_SIZE, JPEG2000_FACE),
            ChipKind::Genuine | ChipKind::AlteredDg1 => {
                dg2::encode_19794(ImageFormat::Jpeg, FACE_SIZE, &self.face)
            }
        };
        let aa_key = chip_pki::key(KeyKind::P256, 5);
        let spki = aa_key.public_key_to_der().map_err(|e| e.to_string())?;
        let dg15 = crate::core::chip::tlv::encode(&[0x6F], &spki);
        let ca_key = chip_pki::key(KeyKind::Brainpool256, 7);
        let dg14 = dg14_for(&ca_key, Cipher::Aes128);
        let spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, Some(Y2020 + 5 * YEAR));
        let sod = chip_pki::sod(
            &[(1, &dg1), (2, &dg2), (14, &dg14), (15, &dg15)],
            &self.dsc,
            &self.dsc_key,
            &spec,
        );
        let dg1 = match kind {
            ChipKind::AlteredDg1 => {
                let surname_end = lines[0].find("<<").unwrap_or(5);
                let mut altered = lines[0].clone();
                altered.replace_range(5..surname_end.max(6), &"X".repeat(surname_end.max(6) - 5));
                chip_pki::dg1(&format!("{altered}\n{}", lines[1]))
            }
            ChipKind::Genuine | ChipKind::Cloned => dg1,
        };
        let mut files = BTreeMap::from([
            (LdsFile::Dg(1), dg1),
            (LdsFile::Dg(2), dg2),
            (LdsFile::Dg(14), dg14),
            (LdsFile::Dg(15), dg15),
            (LdsFile::Sod, sod),
        ]);
        files.insert(LdsFile::Com, ef_com(&files));
        let mut profile = ChipProfile::new(mrz_information, files);
        profile.aa_key = Some(match kind {
            ChipKind::Cloned => chip_pki::key(KeyKind::P256, 6),
            ChipKind::Genuine | ChipKind::AlteredDg1 => aa_key,
        });
        profile.ca_key = Some(match kind {
            ChipKind::Cloned => chip_pki::key(KeyKind::Brainpool256, 8),
            ChipKind::Genuine | ChipKind::AlteredDg1 => ca_key,
        });
        Ok(SimulatedChip::new(profile))
    }
}
