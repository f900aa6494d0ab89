//! Arbitrary bytes as the backup `checkpointctl ledger rewind` resumes from: never a panic, and
//! an accepted backup holds entries numbered from its first seq.

#![no_main]

use checkpointd::cli::ledger_central::decode_rewind_backup;
use checkpointd::core::ledger::Entry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((first, entries)) = decode_rewind_backup(data) {
        assert!(first >= 1);
        for (seq, bytes) in (first..).zip(&entries) {
            assert_eq!(Entry::decode(bytes).map(|e| e.seq), Ok(seq));
        }
    }
});
