//! The lake's tables: every column of every table, defined once. The Arrow schema
//! the writers use, the Delta schema a table is created with and the column list a
//! pipeline's mapping is checked against all come from [`TABLES`].

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// A column's type. Times are UTC instants in microseconds (Delta's `timestamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Str,
    I64,
    F64,
    Bool,
    Timestamp,
    Date,
}

impl ColType {
    pub fn arrow(self) -> DataType {
        match self {
            ColType::Str => DataType::Utf8,
            ColType::I64 => DataType::Int64,
            ColType::F64 => DataType::Float64,
            ColType::Bool => DataType::Boolean,
            ColType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColType::Date => DataType::Date32,
        }
    }
}

/// Where a column's values come from in a file drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read from a source field named by the pipeline's column mapping.
    Mapped,
    /// Computed by ingestion (partition month, source file and line).
    Derived,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
    pub origin: Origin,
}

const fn col(name: &'static str, ty: ColType) -> Column {
    Column { name, ty, nullable: false, origin: Origin::Mapped }
}

const fn opt(name: &'static str, ty: ColType) -> Column {
    Column { name, ty, nullable: true, origin: Origin::Mapped }
}

const fn derived(name: &'static str, ty: ColType) -> Column {
    Column { name, ty, nullable: false, origin: Origin::Derived }
}

/// What a table holds, which decides how pipelines may write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// Rows from the store's change feed: one per change, appended.
    Feed,
    /// Rows from an external file drop, appended.
    Drop,
    /// A reference-data file, replaced whole by each new version of the file.
    Reference,
    /// Written by ingestion itself: quarantine and run history.
    System,
    /// Derived from other tables by the rollup refresh ([`crate::rollup`]): each
    /// entity's latest version, and the day-level rollups the KPIs read.
    Derived,
}

impl TableKind {
    /// Written by homedoc itself, never the target of a pipeline.
    pub fn internal(self) -> bool {
        matches!(self, TableKind::System | TableKind::Derived)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    pub name: &'static str,
    pub kind: TableKind,
    pub columns: &'static [Column],
    /// Event tables are partitioned by the month (`YYYY-MM`, local time) of their event.
    pub partition: Option<&'static str>,
    /// The columns that identify a row: no two rows of the table share them.
    pub key: &'static [&'static str],
}

impl TableDef {
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns.iter().map(|c| Field::new(c.name, c.ty.arrow(), c.nullable)).collect::<Vec<_>>(),
        ))
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

use ColType::*;

pub const ACCOUNTS: TableDef = TableDef {
    name: "accounts",
    kind: TableKind::Feed,
    columns: &[
        col("seq", I64),
        col("account_key", I64),
        col("version", I64),
        col("op", Str),
        col("at", Timestamp),
        derived("month", Str),
        col("sex", Str),
        col("age_band", Str),
        col("ethnic_minority", Bool),
        col("vulnerable_flags", I64),
        col("home_station", Str),
        col("created_at", Timestamp),
        opt("closed_at", Timestamp),
    ],
    partition: Some("month"),
    key: &["seq"],
};

pub const APPOINTMENTS: TableDef = TableDef {
    name: "appointments",
    kind: TableKind::Feed,
    columns: &[
        col("seq", I64),
        col("appointment_id", I64),
        col("version", I64),
        col("status", Str),
        col("at", Timestamp),
        derived("month", Str),
        col("slot_id", I64),
        col("slot_start", Timestamp),
        col("station", Str),
        col("citizen_key", I64),
        col("sex", Str),
        col("age_band", Str),
        col("ethnic_minority", Bool),
        col("reason", Str),
        col("booked_at", Timestamp),
        opt("rescheduled_from", I64),
    ],
    partition: Some("month"),
    key: &["seq"],
};

pub const VIDEO_CALLS: TableDef = TableDef {
    name: "video_calls",
    kind: TableKind::Feed,
    columns: &[
        col("seq", I64),
        col("call_id", I64),
        col("version", I64),
        col("op", Str),
        col("at", Timestamp),
        derived("month", Str),
        col("caller_station", Str),
        col("callee_facility", Str),
        col("purpose", Str),
        col("started_at", Timestamp),
        opt("ended_at", Timestamp),
        opt("outcome", Str),
    ],
    partition: Some("month"),
    key: &["seq"],
};

pub const FACILITIES: TableDef = TableDef {
    name: "facilities",
    kind: TableKind::Feed,
    columns: &[
        col("seq", I64),
        col("code", Str),
        col("version", I64),
        col("at", Timestamp),
        col("name", Str),
        col("level", Str),
        col("province_63", Str),
        col("province_34", Str),
        opt("commune_id", Str),
        opt("refers_to", Str),
        opt("go_live", Date),
        opt("catchment_population", I64),
    ],
    partition: None,
    key: &["seq"],
};

pub const TELEMEDICINE_SESSIONS: TableDef = TableDef {
    name: "telemedicine_sessions",
    kind: TableKind::Drop,
    columns: &[
        col("session_id", Str),
        col("hub", Str),
        col("spoke", Str),
        col("started_at", Timestamp),
        col("duration_min", I64),
        col("specialty", Str),
        col("cases_discussed", I64),
        derived("month", Str),
        derived("source_file", Str),
        derived("source_line", I64),
    ],
    partition: Some("month"),
    key: &["session_id"],
};

pub const TRAINING_ATTENDANCE: TableDef = TableDef {
    name: "training_attendance",
    kind: TableKind::Drop,
    columns: &[
        col("record_id", Str),
        col("staff_code", Str),
        col("facility", Str),
        col("course_code", Str),
        col("course_title", Str),
        col("enrolled_at", Timestamp),
        opt("completed_at", Timestamp),
        opt("score", I64),
        derived("month", Str),
        derived("source_file", Str),
        derived("source_line", I64),
    ],
    partition: Some("month"),
    key: &["record_id"],
};

pub const PROVINCES_63: TableDef = TableDef {
    name: "provinces_63",
    kind: TableKind::Reference,
    columns: &[
        col("code", Str),
        col("name_vi", Str),
        col("slug", Str),
        col("region", Str),
        col("population_2019", I64),
        col("population_approximate", Bool),
        col("communes", I64),
        col("province_34", Str),
    ],
    partition: None,
    key: &["code"],
};

pub const PROVINCES_34: TableDef = TableDef {
    name: "provinces_34",
    kind: TableKind::Reference,
    columns: &[
        col("code", Str),
        col("name_vi", Str),
        col("slug", Str),
        col("old_codes", Str),
        col("population_2019", I64),
        col("population_approximate", Bool),
        col("communes", I64),
    ],
    partition: None,
    key: &["code"],
};

pub const PHASES: TableDef = TableDef {
    name: "phases",
    kind: TableKind::Reference,
    columns: &[
        col("province_63", Str),
        col("scale", Str),
        col("start", Date),
        col("rollout_months", I64),
        col("basis", Str),
    ],
    partition: None,
    key: &["province_63", "scale"],
};

pub const TARGETS: TableDef = TableDef {
    name: "targets",
    kind: TableKind::Reference,
    columns: &[
        col("indicator", Str),
        col("scope", Str),
        col("scope_id", Str),
        col("baseline", F64),
        col("baseline_date", Date),
        col("target", F64),
        col("target_date", Date),
        col("note", Str),
    ],
    partition: None,
    key: &["indicator", "scope", "scope_id", "target_date"],
};

pub const PROJECTS: TableDef = TableDef {
    name: "projects",
    kind: TableKind::Reference,
    columns: &[
        col("id", Str),
        col("province_63", Str),
        col("name_en", Str),
        col("name_vi", Str),
        col("donors", Str),
        opt("budget_usd", I64),
        col("start", Date),
        col("end", Date),
        col("dates_basis", Str),
    ],
    partition: None,
    key: &["id", "province_63"],
};

pub const QUARANTINE: TableDef = TableDef {
    name: "quarantine",
    kind: TableKind::System,
    columns: &[
        col("pipeline", Str),
        col("run", I64),
        col("source", Str),
        col("location", Str),
        col("reason", Str),
        col("detail", Str),
        col("raw", Str),
        col("quarantined_at", Timestamp),
    ],
    partition: None,
    key: &["pipeline", "source", "location"],
};

pub const INGEST_RUNS: TableDef = TableDef {
    name: "ingest_runs",
    kind: TableKind::System,
    columns: &[
        col("pipeline", Str),
        col("run", I64),
        col("status", Str),
        col("started_at", Timestamp),
        col("finished_at", Timestamp),
        col("rows_read", I64),
        col("rows_accepted", I64),
        col("rows_quarantined", I64),
        col("plan", Str),
        opt("error", Str),
    ],
    partition: None,
    key: &["pipeline", "run", "status", "finished_at"],
};

// The rollups' tables. A state table holds the latest version of each entity of a
// change feed, with the feed's columns, partitioned by the month the entity was born
// in (booked, created, started) rather than the month of the change: a late change
// rewrites the old month it belongs to, and nothing else.

pub const ACCOUNT_STATE: TableDef =
    TableDef { name: "account_state", kind: TableKind::Derived, key: &["account_key"], ..ACCOUNTS };
pub const APPOINTMENT_STATE: TableDef =
    TableDef { name: "appointment_state", kind: TableKind::Derived, key: &["appointment_id"], ..APPOINTMENTS };
pub const VIDEO_CALL_STATE: TableDef =
    TableDef { name: "video_call_state", kind: TableKind::Derived, key: &["call_id"], ..VIDEO_CALLS };

// Day-level rollups: one row per facility, local day and group (`dim` names the
// breakdown, `grp` its value, `all`/`all` for none), holding additive measures, so a
// KPI for any period is a sum over days. `month` is the partition the rows were
// derived from (the entity's birth month), not the month of `day`.

pub const ACCOUNT_DAILY: TableDef = TableDef {
    name: "account_daily",
    kind: TableKind::Derived,
    columns: &[
        col("facility", Str),
        col("day", Date),
        col("dim", Str),
        col("grp", Str),
        col("created", I64),
        derived("month", Str),
    ],
    partition: Some("month"),
    key: &["month", "facility", "day", "dim", "grp"],
};

pub const APPOINTMENT_DAILY: TableDef = TableDef {
    name: "appointment_daily",
    kind: TableKind::Derived,
    columns: &[
        col("facility", Str),
        col("day", Date),
        col("dim", Str),
        col("grp", Str),
        col("activity", I64),
        col("booked", I64),
        col("cancelled", I64),
        col("fulfilled", I64),
        col("noshow", I64),
        derived("month", Str),
    ],
    partition: Some("month"),
    key: &["month", "facility", "day", "dim", "grp"],
};

pub const VIDEO_CALL_DAILY: TableDef = TableDef {
    name: "video_call_daily",
    kind: TableKind::Derived,
    columns: &[
        col("facility", Str),
        col("day", Date),
        col("dim", Str),
        col("grp", Str),
        col("calls", I64),
        col("ended", I64),
        col("minutes", F64),
        col("teleconsults_closed", I64),
        col("teleconsults_resolved", I64),
        derived("month", Str),
    ],
    partition: Some("month"),
    key: &["month", "facility", "day", "dim", "grp"],
};

pub const TELEMEDICINE_DAILY: TableDef = TableDef {
    name: "telemedicine_daily",
    kind: TableKind::Derived,
    columns: &[col("facility", Str), col("day", Date), col("sessions", I64), derived("month", Str)],
    partition: Some("month"),
    key: &["month", "facility", "day"],
};

/// Completions per facility, day and health worker: the exact set of workers behind
/// each day, so that distinct workers over any period are counted exactly.
pub const TRAINING_DAILY: TableDef = TableDef {
    name: "training_daily",
    kind: TableKind::Derived,
    columns: &[
        col("facility", Str),
        col("day", Date),
        col("staff_code", Str),
        col("completions", I64),
        derived("month", Str),
    ],
    partition: Some("month"),
    key: &["month", "facility", "day", "staff_code"],
};

/// Bookings and first bookings by the account holder's home station and group (the
/// account's latest version), which no single feed's rollup carries: it joins the
/// account and appointment states. `month` is the month of `day`.
pub const HOLDER_DAILY: TableDef = TableDef {
    name: "holder_daily",
    kind: TableKind::Derived,
    columns: &[
        col("facility", Str),
        col("day", Date),
        col("dim", Str),
        col("grp", Str),
        col("bookings", I64),
        col("first_bookings", I64),
        derived("month", Str),
    ],
    partition: Some("month"),
    key: &["month", "facility", "day", "dim", "grp"],
};

// Month-level rollups: the day-level rows summed per facility, calendar month (`day`
// is the month's first day) and group, with the same columns. A period's whole
// months read these, its other days the day-level table: a report over years reads
// about a tenth of the rows. `month` is again the partition the rows came from, but
// the tables are not partitioned: each is one file sorted by `dim` and `day`, rewritten whole
// at each refresh (see `lake::rewrite`), so that a report opens one file, not one
// per month.

pub const ACCOUNT_MONTHLY: TableDef = TableDef { name: "account_monthly", partition: None, ..ACCOUNT_DAILY };
pub const APPOINTMENT_MONTHLY: TableDef =
    TableDef { name: "appointment_monthly", partition: None, ..APPOINTMENT_DAILY };
pub const VIDEO_CALL_MONTHLY: TableDef = TableDef { name: "video_call_monthly", partition: None, ..VIDEO_CALL_DAILY };
pub const TELEMEDICINE_MONTHLY: TableDef =
    TableDef { name: "telemedicine_monthly", partition: None, ..TELEMEDICINE_DAILY };
pub const TRAINING_MONTHLY: TableDef = TableDef { name: "training_monthly", partition: None, ..TRAINING_DAILY };
pub const HOLDER_MONTHLY: TableDef = TableDef { name: "holder_monthly", partition: None, ..HOLDER_DAILY };

// Year-level rollups: the month-level rows summed per facility, calendar year (`day`
// is 1 January) and group, with the same columns; `month` holds the year (`2024`),
// since the rows of a year sum every partition they came from. A period's whole years
// read these: a figure to date, or a target's window since its baseline, sums a few
// rows per facility and group instead of one per month since the program began. Each
// is one file, recomputed whole from its monthly twin whenever that one changed.

pub const ACCOUNT_YEARLY: TableDef = TableDef { name: "account_yearly", partition: None, ..ACCOUNT_DAILY };
pub const APPOINTMENT_YEARLY: TableDef = TableDef { name: "appointment_yearly", partition: None, ..APPOINTMENT_DAILY };
pub const VIDEO_CALL_YEARLY: TableDef = TableDef { name: "video_call_yearly", partition: None, ..VIDEO_CALL_DAILY };
pub const TELEMEDICINE_YEARLY: TableDef =
    TableDef { name: "telemedicine_yearly", partition: None, ..TELEMEDICINE_DAILY };
pub const TRAINING_YEARLY: TableDef = TableDef { name: "training_yearly", partition: None, ..TRAINING_DAILY };
pub const HOLDER_YEARLY: TableDef = TableDef { name: "holder_yearly", partition: None, ..HOLDER_DAILY };

/// Every table of the lake.
pub const TABLES: &[TableDef] = &[
    ACCOUNTS,
    APPOINTMENTS,
    VIDEO_CALLS,
    FACILITIES,
    TELEMEDICINE_SESSIONS,
    TRAINING_ATTENDANCE,
    PROVINCES_63,
    PROVINCES_34,
    PHASES,
    TARGETS,
    PROJECTS,
    QUARANTINE,
    INGEST_RUNS,
    ACCOUNT_STATE,
    APPOINTMENT_STATE,
    VIDEO_CALL_STATE,
    ACCOUNT_DAILY,
    APPOINTMENT_DAILY,
    VIDEO_CALL_DAILY,
    TELEMEDICINE_DAILY,
    TRAINING_DAILY,
    HOLDER_DAILY,
    ACCOUNT_MONTHLY,
    APPOINTMENT_MONTHLY,
    VIDEO_CALL_MONTHLY,
    TELEMEDICINE_MONTHLY,
    TRAINING_MONTHLY,
    HOLDER_MONTHLY,
    ACCOUNT_YEARLY,
    APPOINTMENT_YEARLY,
    VIDEO_CALL_YEARLY,
    TELEMEDICINE_YEARLY,
    TRAINING_YEARLY,
    HOLDER_YEARLY,
];

pub fn table(name: &str) -> Option<&'static TableDef> {
    TABLES.iter().find(|t| t.name == name)
}
