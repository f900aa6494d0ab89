//! Passive authentication of one document: EF.SOD and the data groups read from its chip.

use std::collections::BTreeMap;

use der::Encode;
use der::asn1::ObjectIdentifier;
use x509_cert::Certificate;

use super::algorithm::{HashAlgorithm, SignatureScheme, Unsupported};
use super::trust::TrustStore;
use crate::core::lds::{self, CardSecurity, DataGroup, Dg1, SignedContent, Sod, x509};
use crate::core::mrz::{self, Mode, MrzReport, ParseOptions};

/// Why passive authentication failed; each has the contract's stable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PaError {
    /// EF.SOD absent or not a SignedData over an LDSSecurityObject.
    SodMalformed,
    /// The signer's signature, or the signed messageDigest, does not verify.
    SodSignatureInvalid,
    /// No trusted CSCA signed the document signer's certificate (or it may not sign).
    DscNotTrusted,
    /// The document signer's certificate was not valid at signing time or at the check date.
    DscExpired,
    /// A CRL of its CSCA lists the document signer's certificate.
    DscRevoked,
    /// The CSCA was not valid at signing time or at the check date.
    CscaExpired,
    /// A hash, signature or key algorithm this terminal does not check.
    UnsupportedAlgorithm,
    /// A data group's bytes do not have the hash EF.SOD lists.
    DgHashMismatch,
    /// DG1, listed in EF.SOD, was not read.
    DgMissing,
    /// The printed MRZ differs from DG1's.
    MrzMismatch,
}

impl PaError {
    /// The contract's code.
    pub const fn code(self) -> &'static str {
        match self {
            Self::SodMalformed => "sod_malformed",
            Self::SodSignatureInvalid => "sod_signature_invalid",
            Self::DscNotTrusted => "dsc_not_trusted",
            Self::DscExpired => "dsc_expired",
            Self::DscRevoked => "dsc_revoked",
            Self::CscaExpired => "csca_expired",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::DgHashMismatch => "dg_hash_mismatch",
            Self::DgMissing => "dg_missing",
            Self::MrzMismatch => "mrz_mismatch",
        }
    }
}

/// A data group's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataGroupStatus {
    /// Its hash is the one EF.SOD lists.
    Valid,
    /// Its hash differs from EF.SOD's.
    HashMismatch,
    /// Read but not listed in EF.SOD: nothing vouches for it.
    NotInSod,
}

impl DataGroupStatus {
    /// The contract's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::HashMismatch => "hash_mismatch",
            Self::NotInSod => "not_in_sod",
        }
    }
}

/// Who signed EF.SOD (the document signer's certificate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerSummary {
    /// Subject, RFC 4514.
    pub subject: String,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// Serial number, upper-case hex.
    pub serial: String,
    /// The subject's country (the issuer's when the subject has none).
    pub country: Option<String>,
}

/// The files read from a chip.
#[derive(Clone, Debug, Default)]
pub struct ChipFiles<'a> {
    /// EF.SOD, when read.
    pub sod: Option<&'a [u8]>,
    /// The data groups read.
    pub data_groups: BTreeMap<DataGroup, &'a [u8]>,
}

/// What the caller decides for one check.
#[derive(Clone, Copy, Debug)]
pub struct VerifyOptions<'a> {
    /// The day certificates must be valid on (the terminal's date, or one asked for).
    pub check_date: jiff::civil::Date,
    /// The printed MRZ, when it was scanned, to compare with DG1.
    pub printed_mrz: Option<&'a str>,
}

/// The outcome of passive authentication.
#[derive(Clone, Debug, Default)]
pub struct PaReport {
    /// Every failure, each once, in the contract's order; empty means valid.
    pub errors: Vec<PaError>,
    /// Each data group read or listed: its verdict.
    pub data_groups: BTreeMap<DataGroup, DataGroupStatus>,
    /// EF.SOD's signer, when its certificate is carried.
    pub signer: Option<SignerSummary>,
    /// DG1's MRZ read by the same parser as a printed one.
    pub dg1_mrz: Option<MrzReport>,
    /// Why, in words, for each failure and each file that did not read.
    pub details: Vec<String>,
}

impl PaReport {
    /// Whether passive authentication succeeded.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    fn fail(&mut self, error: PaError, detail: impl Into<String>) {
        if !self.errors.contains(&error) {
            self.errors.push(error);
        }
        self.details.push(detail.into());
    }
}

/// Passive authentication of `files` against `trust`. Never fails: every problem is in the
/// report.
pub fn verify(files: &ChipFiles<'_>, trust: &TrustStore, options: &VerifyOptions<'_>) -> PaReport {
    let mut report = PaReport::default();
    let dg1_zone = read_dg1(files, options, &mut report);
    match files.sod.map(Sod::parse) {
        None => report.fail(PaError::SodMalformed, "EF.SOD was not read"),
        Some(Err(error)) => report.fail(PaError::SodMalformed, error.to_string()),
        Some(Ok(sod)) => {
            check_data_groups(&sod, files, &mut report);
            let signed = Signed {
                file: "EF.SOD",
                content: &sod.signed,
                content_type: lds::LDS_SECURITY_OBJECT,
            };
            check_signature(&signed, trust, options.check_date, &mut report);
        }
    }
    if let Some(printed) = options.printed_mrz
        && dg1_zone.as_deref() != Some(zone_characters(printed).as_str())
    {
        report.fail(PaError::MrzMismatch, "the printed MRZ differs from DG1's");
    }
    report.errors.sort();
    report
}

/// DG1's MRZ, parsed into the report; its characters without line breaks, for the comparison.
fn read_dg1(
    files: &ChipFiles<'_>,
    options: &VerifyOptions<'_>,
    report: &mut PaReport,
) -> Option<String> {
    let bytes = files.data_groups.get(&DataGroup::DG1)?;
    match Dg1::parse(bytes) {
        Ok(dg1) => {
            let parse_options = ParseOptions {
                mode: Mode::Strict,
                reference_date: options.check_date,
                french_national_id: false,
            };
            report.dg1_mrz = Some(mrz::parse(dg1.zone(), &parse_options));
            Some(zone_characters(dg1.zone()))
        }
        Err(error) => {
            report.details.push(error.to_string());
            None
        }
    }
}

/// A zone's characters: lines trimmed, blank lines and line breaks dropped.
fn zone_characters(text: &str) -> String {
    text.lines().map(str::trim).collect()
}

/// Each data group's hash against EF.SOD's list; DG1 listed but not read is missing (other
/// groups may be unreadable without an error: DG3 and DG4 need terminal authentication).
fn check_data_groups(sod: &Sod, files: &ChipFiles<'_>, report: &mut PaReport) {
    for group in files.data_groups.keys() {
        if !sod.data_group_hashes.contains_key(group) {
            report.data_groups.insert(*group, DataGroupStatus::NotInSod);
        }
    }
    if sod.data_group_hashes.contains_key(&DataGroup::DG1)
        && !files.data_groups.contains_key(&DataGroup::DG1)
    {
        report.fail(
            PaError::DgMissing,
            "DG1 is listed in EF.SOD but was not read",
        );
    }
    let hash = match HashAlgorithm::from_oid(&sod.hash_algorithm.oid) {
        Ok(hash) => hash,
        Err(error) => return report.fail(PaError::UnsupportedAlgorithm, error.to_string()),
    };
    for (group, listed) in &sod.data_group_hashes {
        let Some(bytes) = files.data_groups.get(group) else {
            continue;
        };
        match hash.digest(bytes) {
            Ok(digest) if digest == *listed => {
                report.data_groups.insert(*group, DataGroupStatus::Valid);
            }
            Ok(_) => {
                report
                    .data_groups
                    .insert(*group, DataGroupStatus::HashMismatch);
                report.fail(PaError::DgHashMismatch, format!("{group}: hash mismatch"));
            }
            Err(error) => report.fail(PaError::UnsupportedAlgorithm, error.to_string()),
        }
    }
}

/// Why EF.CardSecurity did not pass passive authentication: the contract's codes (as for
/// EF.SOD) and a sentence for each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardSecurityRejected {
    /// Each failure once, sorted.
    pub errors: Vec<PaError>,
    /// Why, in words.
    pub details: Vec<String>,
}

/// Passive authentication of EF.CardSecurity (Doc 9303-11 9.2): its document signer's
/// signature over the SecurityInfos, the signer's certificate chained to a trusted CSCA, valid
/// and not revoked, as for EF.SOD. The SecurityInfos (DER) when all holds.
pub fn verify_card_security(
    bytes: &[u8],
    trust: &TrustStore,
    check_date: jiff::civil::Date,
) -> Result<Vec<u8>, CardSecurityRejected> {
    let mut report = PaReport::default();
    let card_security = CardSecurity::parse(bytes);
    match &card_security {
        Err(error) => report.fail(PaError::SodMalformed, error.to_string()),
        Ok(card_security) => {
            let signed = Signed {
                file: "EF.CardSecurity",
                content: &card_security.signed,
                content_type: lds::SECURITY_OBJECT,
            };
            check_signature(&signed, trust, check_date, &mut report);
        }
    }
    match card_security {
        Ok(card_security) if report.is_valid() => Ok(card_security.signed.content),
        _ => {
            report.errors.sort();
            Err(CardSecurityRejected {
                errors: report.errors,
                details: report.details,
            })
        }
    }
}

/// A signed file of the chip: its name, its SignedData and the content type it must sign.
struct Signed<'a> {
    file: &'static str,
    content: &'a SignedContent,
    content_type: ObjectIdentifier,
}

/// The signer's signature, then its certificate's chain, validity and revocation.
fn check_signature(
    signed: &Signed<'_>,
    trust: &TrustStore,
    check_date: jiff::civil::Date,
    report: &mut PaReport,
) {
    let Some(dsc) = signed.content.signer_certificate() else {
        return report.fail(
            PaError::DscNotTrusted,
            format!("{} does not carry its signer's certificate", signed.file),
        );
    };
    report.signer = Some(summary(dsc));
    if let Err(error) = check_signer_signature(signed, dsc, report) {
        report.fail(PaError::UnsupportedAlgorithm, error.to_string());
    }
    let signing_time = signed
        .content
        .signer
        .signed_attributes
        .as_ref()
        .and_then(|attributes| attributes.signing_time);
    if !valid_at(dsc, signing_time, check_date) {
        report.fail(
            PaError::DscExpired,
            "the document signer's certificate is not valid at signing time or the check date",
        );
    }
    check_chain(dsc, trust, signing_time, check_date, report);
}

/// The signature over the signed attributes and the messageDigest they carry.
fn check_signer_signature(
    signed: &Signed<'_>,
    dsc: &Certificate,
    report: &mut PaReport,
) -> Result<(), Unsupported> {
    let signer = &signed.content.signer;
    let scheme = SignatureScheme::from_algorithms(
        &signer.signature_algorithm,
        Some(&signer.digest_algorithm),
    )?;
    if let Some(attributes) = &signer.signed_attributes {
        let digest = HashAlgorithm::from_oid(&signer.digest_algorithm.oid)?
            .digest(&signed.content.content)?;
        if attributes.message_digest.as_deref() != Some(digest.as_slice()) {
            report.fail(
                PaError::SodSignatureInvalid,
                format!(
                    "{}: the signed messageDigest is not the content's hash",
                    signed.file
                ),
            );
        }
        if attributes
            .content_type
            .is_some_and(|content_type| content_type != signed.content_type)
        {
            report.fail(
                PaError::SodSignatureInvalid,
                format!(
                    "{}: the signed contentType is not {}",
                    signed.file, signed.content_type
                ),
            );
        }
    }
    let key = dsc
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| Unsupported(format!("public key re-encoding: {e}")))?;
    if !scheme.verify(
        &key,
        signer.signed_bytes(&signed.content.content),
        &signer.signature,
    )? {
        report.fail(
            PaError::SodSignatureInvalid,
            format!(
                "{}: the document signer's signature does not verify",
                signed.file
            ),
        );
    }
    Ok(())
}

/// Key usage, the CSCA that signed the certificate, its validity, and revocation.
fn check_chain(
    dsc: &Certificate,
    trust: &TrustStore,
    signing_time: Option<jiff::Timestamp>,
    check_date: jiff::civil::Date,
    report: &mut PaReport,
) {
    match x509::key_usage(dsc) {
        Ok(None) => {}
        Ok(Some(usage)) if usage.digital_signature() => {}
        Ok(Some(_)) => report.fail(
            PaError::DscNotTrusted,
            "the document signer's key usage does not include digitalSignature",
        ),
        Err(error) => report.fail(
            PaError::DscNotTrusted,
            format!("the document signer's key usage does not read: {error}"),
        ),
    }
    match trust.issuer_of(dsc) {
        Err(error) => report.fail(PaError::UnsupportedAlgorithm, error.to_string()),
        Ok(None) => report.fail(
            PaError::DscNotTrusted,
            "no trusted CSCA signed the document signer's certificate",
        ),
        Ok(Some(csca)) => {
            if !valid_at(&csca.certificate, signing_time, check_date) {
                report.fail(
                    PaError::CscaExpired,
                    "the CSCA is not valid at signing time or the check date",
                );
            }
            if trust.is_revoked(dsc, csca) {
                report.fail(
                    PaError::DscRevoked,
                    "a CRL of the CSCA revokes the document signer",
                );
            }
        }
    }
}

/// Valid at `signing_time` (when known) and on some instant of `check_date` (UTC).
fn valid_at(
    certificate: &Certificate,
    signing_time: Option<jiff::Timestamp>,
    check_date: jiff::civil::Date,
) -> bool {
    let (not_before, not_after) = x509::validity(certificate);
    let at_signing = signing_time.is_none_or(|time| not_before <= time && time <= not_after);
    let day_start = check_date
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|zoned| zoned.timestamp())
        .unwrap_or(jiff::Timestamp::MIN);
    let day_end = day_start
        .checked_add(jiff::SignedDuration::from_hours(24))
        .unwrap_or(jiff::Timestamp::MAX);
    at_signing && not_before < day_end && not_after >= day_start
}

/// The signer's names for the report.
fn summary(dsc: &Certificate) -> SignerSummary {
    let tbs = &dsc.tbs_certificate;
    SignerSummary {
        subject: tbs.subject.to_string(),
        issuer: tbs.issuer.to_string(),
        serial: x509::serial_hex(dsc),
        country: x509::country(&tbs.subject).or_else(|| x509::country(&tbs.issuer)),
    }
}
