-- The national movement record: one row per crossing event, keyed by (terminal, seq), so a
-- redelivered or replayed event can never be counted twice.
CREATE TABLE movements (
    terminal        text        NOT NULL,
    seq             bigint      NOT NULL CHECK (seq >= 1),
    event_hash      bytea       NOT NULL,
    prev_hash       bytea       NOT NULL,
    stream_seq      bigint      NOT NULL,
    recorded_at     timestamptz NOT NULL,
    -- Civil date and UTC offset at the checkpoint: stay days are counted in its calendar.
    local_date      date        NOT NULL,
    utc_offset_s    integer     NOT NULL,
    checkpoint      text        NOT NULL,
    lane            text        NOT NULL,
    direction       text        NOT NULL CHECK (direction IN ('entry', 'exit', 'refused_entry')),
    verdict         text        NOT NULL CHECK (verdict IN ('admit', 'refer', 'refuse')),
    -- SHA-256 of "<issuing state>:<document number>": the lookup key of a document's history.
    holder          bytea       NOT NULL,
    issuing_state   text        NOT NULL,
    document_type   text        NOT NULL,
    document_number text        NOT NULL,
    nationality     text        NOT NULL,
    birth_date      text        NOT NULL,
    sex             text        NOT NULL,
    permit_cti      text,
    evisa           text,
    PRIMARY KEY (terminal, seq)
);
CREATE INDEX movements_by_holder ON movements (holder, recorded_at);
CREATE INDEX movements_by_date ON movements (local_date);

-- Where the durable consumer stands: written in the same transaction as the movements it
-- covers, so a restart resumes exactly after the last committed batch.
CREATE TABLE consumer_position (
    consumer   text   PRIMARY KEY,
    stream_seq bigint NOT NULL
);

-- Rejected events and chain findings, kept for review; never counted as movements.
CREATE TABLE anomalies (
    id         bigserial   PRIMARY KEY,
    found_at   timestamptz NOT NULL,
    stream_seq bigint      NOT NULL,
    terminal   text,
    seq        bigint,
    kind       text        NOT NULL,
    detail     text        NOT NULL,
    payload    bytea       NOT NULL
);
CREATE INDEX anomalies_by_time ON anomalies (found_at);

-- The latest heartbeat of each terminal.
CREATE TABLE terminal_health (
    terminal      text        PRIMARY KEY,
    heartbeat_at  timestamptz,
    received_at   timestamptz NOT NULL,
    outbox_depth  bigint      NOT NULL,
    ledger_age_s  bigint,
    clock_suspect boolean     NOT NULL,
    devices_up    text[]      NOT NULL
);
