-- Each document's entries and exits (refused entries and referrals move no one), kept at ingest
-- in the batch's transaction, in the order the reports read them (recorded_at, then seq): the
-- overstayers report reads one row per document instead of every movement of the record.
CREATE TABLE stays (
    holder          bytea       PRIMARY KEY,
    -- The document as its latest crossing names it.
    nationality     text        NOT NULL,
    issuing_state   text        NOT NULL,
    document_type   text        NOT NULL,
    document_number text        NOT NULL,
    -- The latest crossing's place in the order: a batch that continues after it is appended,
    -- one that does not (events of two terminals arriving out of order) re-reads movements.
    last_at         timestamptz NOT NULL,
    last_seq        bigint      NOT NULL,
    -- Local date and whether it was an entry, one element per crossing, oldest first.
    dates           date[]      NOT NULL,
    entries         boolean[]   NOT NULL,
    CHECK (cardinality(dates) = cardinality(entries) AND cardinality(dates) >= 1)
);

INSERT INTO stays (holder, nationality, issuing_state, document_type, document_number, last_at,
                   last_seq, dates, entries)
SELECT holder,
       (array_agg(nationality ORDER BY recorded_at DESC, seq DESC))[1],
       (array_agg(issuing_state ORDER BY recorded_at DESC, seq DESC))[1],
       (array_agg(document_type ORDER BY recorded_at DESC, seq DESC))[1],
       (array_agg(document_number ORDER BY recorded_at DESC, seq DESC))[1],
       max(recorded_at),
       (array_agg(seq ORDER BY recorded_at DESC, seq DESC))[1],
       array_agg(local_date ORDER BY recorded_at, seq),
       array_agg(direction = 'entry' ORDER BY recorded_at, seq)
FROM movements WHERE direction IN ('entry', 'exit') GROUP BY holder;
