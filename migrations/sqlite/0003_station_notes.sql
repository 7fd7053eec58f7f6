-- Notes that provincial managers leave on a station (for example "closed for
-- renovation until March"), shown beside its low-uptake flags. A note is never
-- edited: a newer note on the same station replaces it on the page, and the
-- history stays.
CREATE TABLE station_notes (
    id         INTEGER PRIMARY KEY,
    station    TEXT NOT NULL,
    author     TEXT NOT NULL,
    body       TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 500),
    created_at INTEGER NOT NULL
);
CREATE INDEX station_notes_station ON station_notes(station, id);
