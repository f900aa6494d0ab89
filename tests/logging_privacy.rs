//! Personal data is masked by construction: a processed scan logged through the daemon's own
//! subscribers (text and JSON) leaves no full document number or name in the output.

use std::io::Write;
use std::sync::{Arc, Mutex};

use checkpointd::core::privacy::{DocumentNumber, PersonName};
use checkpointd::logging::{self, LogFormat};
use tracing_subscriber::fmt::MakeWriter;

/// An in-memory log sink shared with the subscriber.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    fn text(&self) -> String {
        let bytes = self.0.lock().expect("sink lock").clone();
        String::from_utf8(bytes).expect("utf-8 log")
    }
}

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("sink lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'writer> MakeWriter<'writer> for Sink {
    type Writer = Sink;

    fn make_writer(&'writer self) -> Self::Writer {
        self.clone()
    }
}

/// The ICAO 9303 specimen: document number L898902C3, ERIKSSON, ANNA MARIA.
struct Scan {
    number: DocumentNumber,
    surname: PersonName,
    given_names: PersonName,
}

fn specimen() -> Scan {
    Scan {
        number: DocumentNumber::new("L898902C3"),
        surname: PersonName::new("ERIKSSON"),
        given_names: PersonName::new("ANNA MARIA"),
    }
}

/// Logs a scan the way the runtime does: fields by Display and by Debug, inside a span.
fn log_processed_scan(scan: &Scan) {
    let span = tracing::info_span!("scan", document = %scan.number, surname = %scan.surname);
    let _entered = span.enter();
    tracing::info!(
        message = "document read",
        document = %scan.number,
        surname = %scan.surname,
        given_names = %scan.given_names,
    );
    tracing::warn!(message = "verdict: refer", document = ?scan.number, holder = ?scan.given_names);
    tracing::error!("stay limit exceeded for {} {}", scan.surname, scan.number);
}

#[test]
fn processed_scan_leaves_no_personal_data_in_text_or_json_logs() {
    for format in [LogFormat::Text, LogFormat::Json] {
        let sink = Sink::default();
        let subscriber = logging::subscriber(format, sink.clone());
        let scan = specimen();
        tracing::subscriber::with_default(subscriber, || log_processed_scan(&scan));
        let output = sink.text();
        assert!(
            output.contains("document read"),
            "{format:?}: nothing logged:\n{output}"
        );
        for clear in [
            "L898902C3",
            "ERIKSSON",
            "ANNA MARIA",
            "ANNA",
            "MARIA",
            "898902",
        ] {
            assert!(
                !output.contains(clear),
                "{format:?} leaked {clear:?}:\n{output}"
            );
        }
        assert!(output.contains("*******C3"), "{format:?}:\n{output}");
        assert!(output.contains("E.(8)"), "{format:?}:\n{output}");
    }
}

#[test]
fn json_lines_parse_and_carry_the_masked_fields() {
    let sink = Sink::default();
    let subscriber = logging::subscriber(LogFormat::Json, sink.clone());
    tracing::subscriber::with_default(subscriber, || log_processed_scan(&specimen()));
    let output = sink.text();
    let first = output.lines().next().expect("a log line");
    let record: serde_json::Value = serde_json::from_str(first).expect("json line");
    assert_eq!(record["message"], "document read");
    assert_eq!(record["document"], "*******C3");
    assert_eq!(record["given_names"], "A.(10)");
}
