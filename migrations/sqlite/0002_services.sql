-- The core services (SQLite): the database enforces slot capacity, and holds staff
-- users, sessions, one-time codes, idempotency keys and the audit log.

-- A citizen holds at most one active appointment on a slot.
CREATE UNIQUE INDEX appointments_one_active_per_citizen
    ON appointments(slot_id, citizen_id) WHERE status IN ('booked', 'arrived');
-- Serves the capacity checks and every lookup by slot, so the slot-only index goes:
-- one index less to update per booking.
CREATE INDEX appointments_slot_status ON appointments(slot_id, status);
DROP INDEX appointments_slot;

-- The active appointments of a slot never exceed its capacity. SQLite has one writer
-- at a time, so counting inside the trigger cannot race.
CREATE TRIGGER appointments_capacity_insert BEFORE INSERT ON appointments
WHEN NEW.status IN ('booked', 'arrived')
BEGIN
    SELECT RAISE(ABORT, 'slot_full: the slot has no free place')
    WHERE (SELECT COUNT(*) FROM appointments WHERE slot_id = NEW.slot_id AND status IN ('booked', 'arrived'))
       >= (SELECT capacity FROM slots WHERE id = NEW.slot_id);
END;

CREATE TRIGGER appointments_capacity_update BEFORE UPDATE OF status ON appointments
WHEN NEW.status IN ('booked', 'arrived') AND OLD.status NOT IN ('booked', 'arrived')
BEGIN
    SELECT RAISE(ABORT, 'slot_full: the slot has no free place')
    WHERE (SELECT COUNT(*) FROM appointments WHERE slot_id = NEW.slot_id AND status IN ('booked', 'arrived'))
       >= (SELECT capacity FROM slots WHERE id = NEW.slot_id);
END;

-- A capacity cannot drop below the places already taken.
CREATE TRIGGER slots_capacity_update BEFORE UPDATE OF capacity ON slots
BEGIN
    SELECT RAISE(ABORT, 'slot_full: the capacity is below the places taken')
    WHERE (SELECT COUNT(*) FROM appointments WHERE slot_id = NEW.id AND status IN ('booked', 'arrived')) > NEW.capacity;
END;

ALTER TABLE appointments ADD COLUMN reminded_at INTEGER;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('station_staff', 'upper_doctor', 'provincial_manager', 'evaluator', 'donor', 'admin')),
    scope         TEXT,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Sessions are stored by the SHA-256 of their token; the token itself is never kept.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    account_id  INTEGER REFERENCES accounts(id),
    user_id     INTEGER REFERENCES users(id),
    csrf        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    CHECK ((account_id IS NULL) <> (user_id IS NULL))
);
CREATE INDEX sessions_account ON sessions(account_id);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE login_codes (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    code_hash  TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0
);

-- The first result of each idempotent request, kept at least 24 hours.
CREATE TABLE idempotency_keys (
    caller     TEXT NOT NULL,
    key        TEXT NOT NULL,
    body_hash  TEXT NOT NULL,
    status     INTEGER NOT NULL,
    response   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

-- Append-only: who did what, when, with what outcome. Never a phone number, a name or
-- an appointment reason: actors and targets are ids and codes.
CREATE TABLE audit_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    role    TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    outcome TEXT NOT NULL,
    status  INTEGER NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
