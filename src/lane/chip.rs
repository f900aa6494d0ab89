//! The lane's chip step: after a passport or ID card's MRZ is scanned at a lane with a chip
//! reader, the chip is read (PACE, else BAC unless refused) with the MRZ as password on a
//! blocking thread, and weighed by `core::chip_evidence` against the CSCAs and CRLs the ledger
//! replica holds (offline). Nothing read from the chip is logged or recorded.

use std::sync::{Arc, Mutex};

use crate::core::chip::ChipError;
use crate::core::chip::pace::Password;
use crate::core::chip::reader::ReadSettings;
use crate::core::chip_evidence::{self, ChipEvidence};
use crate::core::decision::ChipFacts;
use crate::core::mrz::MrzReport;
use crate::core::passive_auth::TrustStore;
use crate::ports::chip::{ChannelError, DocumentChipReader};
use crate::ports::ledger::LedgerView;

/// The longest the lane waits for one chip read (the card's arrival included); a genuine
/// passport reads in a few seconds even with a 20 KB face over 223-byte reads.
pub const CHIP_READ_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// A lane's chip reader and how it may read.
#[derive(Clone)]
pub struct ChipLane {
    /// The configured device name, for the lane's status.
    name: String,
    reader: Arc<Mutex<dyn DocumentChipReader>>,
    settings: ReadSettings,
    /// How long the lane waits for one read.
    budget: std::time::Duration,
    /// The trust built from the replica, and the applied seq it was built at.
    trust: Option<(Option<u64>, Arc<TrustStore>)>,
}

impl ChipLane {
    /// A lane reading chips with the reader `name`d in the configuration under `settings`
    /// (the BAC-fallback switch).
    pub fn new(
        name: &str,
        reader: Arc<Mutex<dyn DocumentChipReader>>,
        settings: ReadSettings,
    ) -> Self {
        Self {
            name: name.to_owned(),
            reader,
            settings,
            budget: CHIP_READ_BUDGET,
            trust: None,
        }
    }

    /// Waits at most `budget` for a read instead of [`CHIP_READ_BUDGET`].
    pub fn with_read_budget(mut self, budget: std::time::Duration) -> Self {
        self.budget = budget;
        self
    }

    /// The configured device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads and weighs the chip of the document whose printed MRZ is `printed`; `None` when
    /// the MRZ gives no access key (the MRZ's own reasons already refer the traveller).
    pub async fn evidence(
        &mut self,
        printed: &MrzReport,
        ledger: &(dyn LedgerView + Send + Sync),
        today: jiff::civil::Date,
    ) -> Option<ChipEvidence> {
        self.read_and_weigh(printed, ledger, today)
            .await
            .map(|(evidence, _)| evidence)
    }

    /// As [`Self::evidence`], with the reader's link as the read found it: down (and why)
    /// when the reader is unplugged or pcscd does not answer, up otherwise (a card inserted,
    /// removed or absent is the chip's evidence, not the reader's state).
    pub async fn read_and_weigh(
        &mut self,
        printed: &MrzReport,
        ledger: &(dyn LedgerView + Send + Sync),
        today: jiff::civil::Date,
    ) -> Option<(ChipEvidence, Result<(), String>)> {
        let password = Password::Mrz(printed.mrz_information()?);
        let reader = self.reader.clone();
        let settings = self.settings.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut reader = reader
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            reader.read(&password, &settings)
        });
        // The lane waits for the read like for the kiosk's gate, so a chip that answers slowly
        // must not hold it: past the budget the read counts as failed (the blocking thread
        // finishes on its own and the next read waits for the reader).
        let read = match tokio::time::timeout(self.budget, task).await {
            Ok(Ok(read)) => read,
            Ok(Err(error)) => Err(ChipError::Channel(ChannelError::Transport(format!(
                "chip reader task failed: {error}"
            )))),
            Err(_) => Err(ChipError::Channel(ChannelError::Timeout)),
        };
        let link = match &read {
            Err(ChipError::Channel(
                error @ (ChannelError::ReaderGone | ChannelError::Transport(_)),
            )) => Err(error.to_string()),
            _ => Ok(()),
        };
        let trust = self.trust(ledger);
        let evidence = chip_evidence::weigh(&read, printed, &trust, today);
        if let Err(error) = &read {
            // The error names a protocol step or a status word, never the chip's data.
            tracing::info!(message = "chip not read", %error);
        }
        tracing::info!(message = "chip weighed", facts = facts_code(&evidence.facts),
            access = ?evidence.access);
        Some((evidence, link))
    }

    /// The ledger's CSCAs and CRLs as a trust store, rebuilt only when the replica moved.
    fn trust(&mut self, ledger: &dyn LedgerView) -> Arc<TrustStore> {
        let applied = ledger.applied_seq().ok().flatten();
        if let Some((seq, trust)) = &self.trust
            && *seq == applied
            && applied.is_some()
        {
            return trust.clone();
        }
        let trust = match ledger.csca_trust() {
            Ok(held) => {
                let (store, unreadable) = held.trust_store();
                if unreadable > 0 {
                    tracing::warn!(message = "csca records that no longer read", unreadable);
                }
                Arc::new(store)
            }
            Err(error) => {
                // No trust: every chip is `chip_csca_unknown`, referred, never admitted on it.
                tracing::error!(message = "csca trust unreadable", %error);
                Arc::new(TrustStore::new())
            }
        };
        self.trust = Some((applied, trust.clone()));
        trust
    }
}

/// The facts' stable name, for logs.
pub fn facts_code(facts: &ChipFacts) -> &'static str {
    match facts {
        ChipFacts::Authentic => "chip_authentic",
        ChipFacts::PassiveAuthFailed { .. } => "chip_passive_auth_failed",
        ChipFacts::CloneSuspected => "chip_clone_suspected",
        ChipFacts::Dg1Differs => "chip_dg1_differs",
        ChipFacts::CscaUnknown { .. } => "chip_csca_unknown",
        ChipFacts::Unreadable { .. } => "chip_unreadable",
        ChipFacts::Missing => "chip_missing",
        ChipFacts::NoChip => "no_chip",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::chip::reader::ChipRead;
    use crate::core::ledger::MemoryState;
    use crate::core::mrz::{Mode, ParseOptions};

    /// A reader that takes `delay` and then fails as told.
    struct Scripted {
        delay: std::time::Duration,
        error: ChannelError,
    }

    impl DocumentChipReader for Scripted {
        fn read(&mut self, _: &Password, _: &ReadSettings) -> Result<ChipRead, ChipError> {
            std::thread::sleep(self.delay);
            Err(ChipError::Channel(self.error.clone()))
        }
    }

    fn lane(delay_ms: u64, error: ChannelError) -> ChipLane {
        let reader = Scripted {
            delay: std::time::Duration::from_millis(delay_ms),
            error,
        };
        ChipLane::new(
            "chip",
            Arc::new(Mutex::new(reader)),
            ReadSettings::default(),
        )
        .with_read_budget(std::time::Duration::from_millis(100))
    }

    #[tokio::test]
    async fn a_slow_chip_or_a_gone_reader_is_an_answer_never_a_wedge() {
        let printed = crate::core::mrz::parse(
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10",
            &ParseOptions {
                mode: Mode::Tolerant,
                reference_date: jiff::civil::date(2010, 1, 1),
                french_national_id: false,
            },
        );
        let ledger = MemoryState::default();
        let today = jiff::civil::date(2026, 6, 1);
        let started = std::time::Instant::now();
        let (evidence, link) = lane(600, ChannelError::NoCard)
            .read_and_weigh(&printed, &ledger, today)
            .await
            .expect("access key");
        assert!(
            started.elapsed() < std::time::Duration::from_millis(600),
            "waited for the reader"
        );
        assert!(
            matches!(&evidence.facts, ChipFacts::Unreadable { why } if why.contains("in time")),
            "{evidence:?}"
        );
        assert_eq!(link, Ok(()));

        let (evidence, link) = lane(0, ChannelError::ReaderGone)
            .read_and_weigh(&printed, &ledger, today)
            .await
            .expect("access key");
        assert!(matches!(evidence.facts, ChipFacts::Unreadable { .. }));
        assert_eq!(link, Err("the reader was unplugged".to_string()));

        let (evidence, _) = lane(0, ChannelError::NoCard)
            .read_and_weigh(&printed, &ledger, today)
            .await
            .expect("access key");
        assert_eq!(
            evidence.facts,
            ChipFacts::Missing,
            "a passport must hold a chip"
        );
    }
}
