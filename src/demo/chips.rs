//! The demo's passport chips: a CSCA and document signer made at start (by the tests' own PKI
//! code, `adapters::chip_sim::test_pki`), and for each traveller a simulated chip behind the same reader port
//! a PC/SC reader serves: genuine, with an altered DG1, or a clone without the chip's key.

use std::collections::BTreeMap;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use crate::adapters::chip_sim::test_pki as chip_pki;
use crate::adapters::chip_sim::{ChipProfile, SimulatedChip, ef_com};
use crate::core::chip::lds::LdsFile;
use chip_pki::{CertSpec, Hash, KeyKind, SignedSpec, Style, Y2020, YEAR};

/// What the chip of a demo passport is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChipKind {
    /// Issued and signed as it reads.
    Genuine,
    /// DG1 rewritten after signing (another name): passive authentication fails.
    AlteredDg1,
    /// Every file copied, DG15 included, onto a chip without the original's private key:
    /// active authentication fails.
    Cloned,
}

/// The demo state's CSCA and document signer.
pub struct DemoPki {
    csca: X509,
    dsc: X509,
    dsc_key: PKey<Private>,
}

impl DemoPki {
    /// A CSCA (valid 2020–2040) and a document signer it certified (2024–2034).
    pub fn new() -> Self {
        let csca_key = chip_pki::key(KeyKind::P256, 0);
        let csca = chip_pki::certificate(&CertSpec::csca("AZ", 1), &csca_key, None);
        let dsc_key = chip_pki::key(KeyKind::Brainpool256, 1);
        let dsc = chip_pki::certificate(
            &CertSpec::dsc("AZ", 0x2A),
            &dsc_key,
            Some((&csca, &csca_key)),
        );
        Self { csca, dsc, dsc_key }
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
        let dg2 = chip_pki::data_group(0x75, 20_000, 0x11);
        let aa_key = chip_pki::key(KeyKind::P256, 5);
        let spki = aa_key.public_key_to_der().map_err(|e| e.to_string())?;
        let dg15 = crate::core::chip::tlv::encode(&[0x6F], &spki);
        let spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, Some(Y2020 + 5 * YEAR));
        let sod = chip_pki::sod(
            &[(1, &dg1), (2, &dg2), (15, &dg15)],
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
            (LdsFile::Dg(15), dg15),
            (LdsFile::Sod, sod),
        ]);
        files.insert(LdsFile::Com, ef_com(&files));
        let mut profile = ChipProfile::new(mrz_information, files);
        profile.aa_key = Some(match kind {
            ChipKind::Cloned => chip_pki::key(KeyKind::P256, 6),
            ChipKind::Genuine | ChipKind::AlteredDg1 => aa_key,
        });
        Ok(SimulatedChip::new(profile))
    }
}
