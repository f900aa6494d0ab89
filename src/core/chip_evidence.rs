//! What a chip read means for the traveller: passive authentication against the ledger's CSCAs,
//! DG1 against the printed MRZ (both read by `core::mrz`), and active and chip authentication
//! counted only once passive authentication has vouched for DG15 and DG14 (for PACE-CAM, for
//! EF.CardSecurity). Pure: the read and the trust come in.

use std::collections::BTreeMap;

use jiff::civil::Date;

use crate::core::chip::ChipError;
use crate::core::chip::active_auth;
use crate::core::chip::cam;
use crate::core::chip::channel::ChannelError;
use crate::core::chip::chip_auth::ChipAuthentication;
use crate::core::chip::dg14::Dg14;
use crate::core::chip::lds::LdsFile;
use crate::core::chip::reader::{Access, ChipRead};
use crate::core::decision::ChipFacts;
use crate::core::event::ChipRecord;
use crate::core::lds::DataGroup;
use crate::core::lds::dg2::{self, FaceImage};
use crate::core::mrz::{MrzDocument, MrzReport};
use crate::core::passive_auth::{
    self, ChipFiles, DataGroupStatus, PaError, PaReport, TrustStore, VerifyOptions,
};

/// The chip's evidence: the facts the decision weighs, what a crossing event may carry (the PA
/// result and the document signer's country and serial, nothing of the holder), and how the
/// chip was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChipEvidence {
    pub facts: ChipFacts,
    pub record: Option<ChipRecord>,
    /// `PACE` or `BAC`, when a session was opened.
    pub access: Option<&'static str>,
    /// The holder's face from DG2, only when passive authentication vouched for DG2 (the
    /// issuer's picture, for the officer's eyes: never logged, never in an event).
    pub face: Option<FaceImage>,
}

/// Whether a document must hold a chip: every passport (document code `P…`, ICAO TD3), as
/// machine-readable passports issued in the last ten years are ePassports. ID cards are not
/// assumed to hold one (many valid cards predate chips): a card with no chip is `no_chip`.
pub fn expects_chip(printed: &MrzReport) -> bool {
    printed
        .document
        .as_ref()
        .is_some_and(|document| document.document_code.value.starts_with('P'))
}

/// Weighs a chip read (or why none was possible) for the document whose printed MRZ is
/// `printed`, with the CSCAs and CRLs of `trust`, on `today`.
pub fn weigh(
    read: &Result<ChipRead, ChipError>,
    printed: &MrzReport,
    trust: &TrustStore,
    today: Date,
) -> ChipEvidence {
    let read = match read {
        Ok(read) => read,
        Err(ChipError::Channel(ChannelError::NoCard)) => {
            let facts = if expects_chip(printed) {
                ChipFacts::Missing
            } else {
                ChipFacts::NoChip
            };
            return ChipEvidence {
                facts,
                record: None,
                access: None,
                face: None,
            };
        }
        Err(error) => {
            return ChipEvidence {
                facts: ChipFacts::Unreadable {
                    why: error.to_string(),
                },
                record: None,
                access: None,
                face: None,
            };
        }
    };
    let pa = passive_authentication(read, trust, today);
    let record = ChipRecord {
        passive_authentication: if pa.is_valid() { "valid" } else { "invalid" }.to_string(),
        dsc_country: pa.signer.as_ref().and_then(|s| s.country.clone()),
        dsc_serial: pa.signer.as_ref().map(|s| s.serial.clone()),
    };
    let cam_failed = chip_authentication_mapping(read, trust, today).is_some_and(|r| r.is_err());
    ChipEvidence {
        facts: facts(read, &pa, printed, cam_failed),
        record: Some(record),
        access: Some(match read.access {
            Access::Pace(_) => "PACE",
            Access::Bac => "BAC",
        }),
        face: vouched_face(read, &pa),
    }
}

/// The first face of DG2 when PA holds and vouched for DG2; a DG2 that does not parse shows
/// no face (the document is checked by hand as for a chip without one).
fn vouched_face(read: &ChipRead, pa: &PaReport) -> Option<FaceImage> {
    if !pa.is_valid() || !vouched(pa, 2) {
        return None;
    }
    dg2::faces(read.file(LdsFile::Dg(2))?)
        .ok()?
        .into_iter()
        .next()
}

/// Integrity failures refuse; a trust that cannot be established refers; a failed active,
/// chip or chip-authentication-mapping check is a suspected clone.
fn facts(read: &ChipRead, pa: &PaReport, printed: &MrzReport, cam_failed: bool) -> ChipFacts {
    let codes = |errors: &[PaError]| errors.iter().map(|e| e.code().to_string()).collect();
    let (trust_errors, integrity_errors): (Vec<PaError>, Vec<PaError>) =
        pa.errors.iter().partition(|error| {
            matches!(
                error,
                PaError::DscNotTrusted
                    | PaError::DscExpired
                    | PaError::CscaExpired
                    | PaError::UnsupportedAlgorithm
            )
        });
    if !integrity_errors.is_empty() {
        return ChipFacts::PassiveAuthFailed {
            errors: codes(&integrity_errors),
        };
    }
    let same_mrz = match (&pa.dg1_mrz, &printed.document) {
        (Some(dg1), Some(printed)) => dg1
            .document
            .as_ref()
            .is_some_and(|dg1| same_document(dg1, printed)),
        _ => false,
    };
    if !same_mrz {
        return ChipFacts::Dg1Differs;
    }
    if !trust_errors.is_empty() {
        return ChipFacts::CscaUnknown {
            errors: codes(&trust_errors),
        };
    }
    if active_authentication_failed(read, pa) || chip_authentication_failed(read, pa) || cam_failed
    {
        return ChipFacts::CloneSuspected;
    }
    ChipFacts::Authentic
}

/// The files of a chip read as passive authentication takes them: EF.SOD and the data groups.
pub fn chip_files(read: &ChipRead) -> ChipFiles<'_> {
    let data_groups: BTreeMap<DataGroup, &[u8]> = read
        .files
        .iter()
        .filter_map(|(file, bytes)| match file {
            LdsFile::Dg(_) => {
                DataGroup::from_file_name(&file.name()).map(|group| (group, bytes.as_slice()))
            }
            _ => None,
        })
        .collect();
    ChipFiles {
        sod: read.file(LdsFile::Sod),
        data_groups,
    }
}

fn passive_authentication(read: &ChipRead, trust: &TrustStore, today: Date) -> PaReport {
    let files = chip_files(read);
    let options = VerifyOptions {
        check_date: today,
        printed_mrz: None,
    };
    passive_auth::verify(&files, trust, &options)
}

/// Active authentication counts only when PA vouched for DG15 (else a clone brings its own
/// DG15 and key); a chip without DG15 has nothing to fail.
fn active_authentication_failed(read: &ChipRead, pa: &PaReport) -> bool {
    let (Some(attempt), Some(dg15)) = (&read.active_authentication, read.file(LdsFile::Dg(15)))
    else {
        return false;
    };
    !(vouched(pa, 15) && active_auth::verify(dg15, attempt).unwrap_or(false))
}

/// Chip authentication counts only when PA vouched for DG14 (else a clone brings its own
/// DG14 and key); a chip without DG14, or whose CA this reader cannot run, has nothing to fail.
pub fn chip_authentication_failed(read: &ChipRead, pa: &PaReport) -> bool {
    match &read.chip_authentication {
        None | Some(ChipAuthentication::Unsupported(_)) => false,
        Some(ChipAuthentication::Failed(_)) => true,
        Some(ChipAuthentication::Verified) => !vouched(pa, 14),
    }
}

/// PACE-CAM's verdict, `None` when the session was not opened with it: `Ok` when passive
/// authentication verifies EF.CardSecurity (against `trust`, on `today`) and its chip-
/// authentication key gives the chip's mapping key (`core::chip::cam`), else why not. A
/// CardSecurity that does not verify makes the result not count, as a clone could bring its own.
pub fn chip_authentication_mapping(
    read: &ChipRead,
    trust: &TrustStore,
    today: Date,
) -> Option<Result<(), String>> {
    let attempt = read.chip_authentication_mapping.as_ref()?;
    let Some(card_security) = read.card_security.as_deref() else {
        return Some(Err("EF.CardSecurity was not read".into()));
    };
    let verdict = passive_auth::verify_card_security(card_security, trust, today)
        .map_err(|report| {
            format!(
                "EF.CardSecurity does not pass passive authentication ({}): {}",
                report
                    .errors
                    .iter()
                    .map(|error| error.code())
                    .collect::<Vec<_>>()
                    .join(", "),
                report.details.join("; ")
            )
        })
        .and_then(|content| Dg14::from_card_security(&content).map_err(|e| e.to_string()))
        .and_then(|infos| cam::verify(attempt, &infos.keys));
    Some(verdict)
}

/// Whether passive authentication found data group `number` as its issuer signed it.
fn vouched(pa: &PaReport, number: u8) -> bool {
    DataGroup::new(number)
        .and_then(|group| pa.data_groups.get(&group))
        .is_some_and(|status| *status == DataGroupStatus::Valid)
}

/// The fields a forger would change, as `core::mrz` read them from DG1 and from the print.
fn same_document(dg1: &MrzDocument, printed: &MrzDocument) -> bool {
    let text =
        |field: &Option<crate::core::mrz::TextField>| field.as_ref().map(|f| f.value.clone());
    dg1.document_code.value == printed.document_code.value
        && dg1.issuing_state.value == printed.issuing_state.value
        && dg1.document_number.number.expose() == printed.document_number.number.expose()
        && dg1.birth_date.raw == printed.birth_date.raw
        && dg1.expiry_date.as_ref().map(|d| &d.raw) == printed.expiry_date.as_ref().map(|d| &d.raw)
        && dg1.sex == printed.sex
        && text(&dg1.nationality) == text(&printed.nationality)
        && dg1.name.surname.expose() == printed.name.surname.expose()
        && dg1.name.given_names.expose() == printed.name.given_names.expose()
        && text(&dg1.optional_data) == text(&printed.optional_data)
}
