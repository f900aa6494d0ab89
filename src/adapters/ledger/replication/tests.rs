use super::*;

fn nice_of_this_thread() -> i64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
    // Field 19 is the nice value; fields after the parenthesised name are space-separated.
    let after_name = &stat[stat.rfind(')').expect("name") + 2..];
    after_name
        .split(' ')
        .nth(16)
        .and_then(|n| n.parse().ok())
        .expect("nice field")
}

fn snapshot_of(entries: &[&[u8]]) -> Vec<u8> {
    Snapshot {
        checkpoint: b"signed checkpoint".to_vec(),
        entries: entries
            .iter()
            .map(|e| ciborium::Value::Bytes(e.to_vec()))
            .collect(),
    }
    .encode()
}

#[test]
fn a_snapshot_is_read_entry_by_entry_and_every_cut_is_an_error() {
    let bytes = snapshot_of(&[b"one", b"", b"three"]);
    let mut reader = SnapshotReader::new(bytes.as_slice()).expect("head");
    assert_eq!(reader.checkpoint, b"signed checkpoint");
    assert_eq!(reader.len(), 3);
    let mut read = Vec::new();
    while let Some(entry) = reader.next_entry().expect("entry") {
        read.push(entry);
    }
    assert_eq!(read, [b"one".to_vec(), Vec::new(), b"three".to_vec()]);
    let decoded = Snapshot::decode(&bytes).expect("decode");
    assert_eq!(decoded.entries.len(), 3);

    for cut in 0..bytes.len() {
        let whole = SnapshotReader::new(&bytes[..cut]).and_then(|mut reader| {
            while reader.next_entry()?.is_some() {}
            Ok(())
        });
        assert!(whole.is_err(), "cut at {cut} read as a whole snapshot");
    }
}

#[test]
fn a_snapshot_out_of_shape_is_refused_with_the_reason() {
    let refused = |bytes: &[u8]| match SnapshotReader::new(bytes).and_then(|mut reader| {
        while reader.next_entry()?.is_some() {}
        Ok(())
    }) {
        Err(ReplicationError::Snapshot(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let cbor = |value: &ciborium::Value| {
        let mut out = Vec::new();
        ciborium::into_writer(value, &mut out).expect("encode");
        out
    };
    use ciborium::Value::{Array, Bytes, Map, Text};
    let entries_first = Map(vec![
        (Text("entries".into()), Array(vec![])),
        (Text("checkpoint".into()), Bytes(vec![1])),
    ]);
    assert!(refused(&cbor(&entries_first)).contains("expected field \"checkpoint\""));
    let text_entry = Map(vec![
        (Text("checkpoint".into()), Bytes(vec![1])),
        (Text("entries".into()), Array(vec![Text("x".into())])),
    ]);
    assert!(refused(&cbor(&text_entry)).contains("entry 1: expected a byte string"));
    let huge = Map(vec![
        (Text("checkpoint".into()), Bytes(vec![1])),
        (
            Text("entries".into()),
            Array(vec![Bytes(vec![0; ANY_ENTRY_BYTES_MAX + 1])]),
        ),
    ]);
    assert!(refused(&cbor(&huge)).contains("more than"));
    assert!(refused(b"\xff").contains("expected a map"));
}

#[test]
fn lowering_priority_affects_only_the_calling_thread() {
    let before = nice_of_this_thread();
    let lowered = std::thread::spawn(|| {
        lower_priority();
        nice_of_this_thread()
    })
    .join()
    .expect("thread");
    assert_eq!(lowered, (before + i64::from(APPLY_NICE)).min(19));
    assert_eq!(nice_of_this_thread(), before);
}
