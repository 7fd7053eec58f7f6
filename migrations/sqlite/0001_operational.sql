-- The operational store (SQLite). Times are Unix seconds (UTC), dates ISO text.
-- Every change is also recorded in change_feed, in the same transaction.

CREATE TABLE facilities (
    id                   INTEGER PRIMARY KEY,
    code                 TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL,
    level                TEXT NOT NULL CHECK (level IN ('commune_station', 'district_centre', 'provincial_hospital', 'central_hospital')),
    province_63          TEXT NOT NULL,
    province_34          TEXT NOT NULL,
    commune_id           TEXT,
    refers_to            INTEGER REFERENCES facilities(id),
    go_live              TEXT,
    catchment_population INTEGER CHECK (catchment_population > 0),
    version              INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX facilities_province ON facilities(province_63);

CREATE TABLE health_workers (
    id          INTEGER PRIMARY KEY,
    staff_code  TEXT NOT NULL UNIQUE,
    facility_id INTEGER NOT NULL REFERENCES facilities(id),
    cadre       TEXT NOT NULL,
    sex         TEXT NOT NULL,
    birth_year  INTEGER NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE accounts (
    id               INTEGER PRIMARY KEY,
    phone            TEXT UNIQUE,           -- NULL once erased
    name             TEXT,                  -- NULL once erased
    sex              TEXT NOT NULL CHECK (sex IN ('female', 'male', 'other')),
    birth_year       INTEGER NOT NULL,
    ethnic_minority  INTEGER NOT NULL CHECK (ethnic_minority IN (0, 1)),
    vulnerable       INTEGER NOT NULL CHECK (vulnerable BETWEEN 0 AND 7),
    home_station_id  INTEGER NOT NULL REFERENCES facilities(id),
    consent_at       INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    closed_at        INTEGER,
    version          INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX accounts_station ON accounts(home_station_id);

CREATE TABLE slots (
    id           INTEGER PRIMARY KEY,
    station_id   INTEGER NOT NULL REFERENCES facilities(id),
    start_at     INTEGER NOT NULL,
    duration_min INTEGER NOT NULL CHECK (duration_min BETWEEN 5 AND 480),
    capacity     INTEGER NOT NULL CHECK (capacity BETWEEN 1 AND 200),
    version      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX slots_station_start ON slots(station_id, start_at);

CREATE TABLE appointments (
    id               INTEGER PRIMARY KEY,
    slot_id          INTEGER NOT NULL REFERENCES slots(id),
    citizen_id       INTEGER NOT NULL REFERENCES accounts(id),
    reason           TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('booked', 'arrived', 'fulfilled', 'cancelled', 'noshow', 'waitlist', 'entered-in-error')),
    booked_at        INTEGER NOT NULL,
    rescheduled_from INTEGER REFERENCES appointments(id),
    updated_at       INTEGER NOT NULL,
    version          INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX appointments_slot ON appointments(slot_id);
CREATE INDEX appointments_citizen ON appointments(citizen_id);

-- Every status an appointment has had, one row per version.
CREATE TABLE appointment_history (
    appointment_id INTEGER NOT NULL,
    version        INTEGER NOT NULL,
    status         TEXT NOT NULL,
    at             INTEGER NOT NULL,
    PRIMARY KEY (appointment_id, version)
) WITHOUT ROWID;

CREATE TABLE video_calls (
    id                 INTEGER PRIMARY KEY,
    caller_station_id  INTEGER NOT NULL REFERENCES facilities(id),
    callee_facility_id INTEGER NOT NULL REFERENCES facilities(id),
    purpose            TEXT NOT NULL CHECK (purpose IN ('teleconsult', 'meeting', 'training')),
    started_at         INTEGER NOT NULL,
    ended_at           INTEGER CHECK (ended_at >= started_at),
    outcome            TEXT CHECK (outcome IN ('advice_given', 'referred_up')),
    version            INTEGER NOT NULL DEFAULT 1
);

-- The change feed. SQLite has one writer at a time (BEGIN IMMEDIATE), so the
-- AUTOINCREMENT sequence is commit order and is never reused after a prune.
CREATE TABLE change_feed (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    entity    TEXT NOT NULL,
    entity_id INTEGER NOT NULL,
    version   INTEGER NOT NULL,
    op        TEXT NOT NULL CHECK (op IN ('insert', 'update')),
    at        INTEGER NOT NULL
);
CREATE INDEX change_feed_entity ON change_feed(entity, seq);

CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
