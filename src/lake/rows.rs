//! Building Arrow record batches row by row for a table of [`super::schema`]: one
//! typed builder per column, values pushed in column order.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;

use super::schema::{ColType, TableDef};

/// One value for the next column of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val<'a> {
    Null,
    Str(&'a str),
    I64(i64),
    F64(f64),
    Bool(bool),
    /// Microseconds since the Unix epoch, UTC.
    Micros(i64),
    Date(NaiveDate),
}

impl<'a> Val<'a> {
    pub fn ts(t: DateTime<Utc>) -> Self {
        Val::Micros(t.timestamp_micros())
    }

    pub fn opt_str(s: Option<&'a str>) -> Self {
        s.map_or(Val::Null, Val::Str)
    }

    pub fn opt_i64(v: Option<i64>) -> Self {
        v.map_or(Val::Null, Val::I64)
    }
}

enum Builder {
    Str(StringBuilder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Ts(TimestampMicrosecondBuilder),
    Date(Date32Builder),
}

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const UNIX_EPOCH_DAYS_CE: i32 = 719_163;

/// Rows of one table, ready to become a record batch.
pub struct Rows {
    def: &'static TableDef,
    builders: Vec<Builder>,
    len: usize,
}

impl Rows {
    pub fn new(def: &'static TableDef) -> Self {
        let builders = def
            .columns
            .iter()
            .map(|c| match c.ty {
                ColType::Str => Builder::Str(StringBuilder::new()),
                ColType::I64 => Builder::I64(Int64Builder::new()),
                ColType::F64 => Builder::F64(Float64Builder::new()),
                ColType::Bool => Builder::Bool(BooleanBuilder::new()),
                ColType::Timestamp => Builder::Ts(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
                ColType::Date => Builder::Date(Date32Builder::new()),
            })
            .collect();
        Rows { def, builders, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one row: one value per column, in the table's column order. A value of
    /// the wrong type is a programming error, caught by the tests of every writer.
    pub fn push(&mut self, values: &[Val<'_>]) {
        self.push_values(values.iter().copied());
    }

    /// [`Rows::push`] from an iterator, for a writer that makes its values as it goes.
    pub fn push_values<'v>(&mut self, values: impl IntoIterator<Item = Val<'v>>) {
        let name = self.def.name;
        let mut values = values.into_iter();
        for (i, b) in self.builders.iter_mut().enumerate() {
            let v = values.next().unwrap_or_else(|| panic!("{name}: too few values"));
            match (b, v) {
                (Builder::Str(b), Val::Str(s)) => b.append_value(s),
                (Builder::Str(b), Val::Null) => b.append_null(),
                (Builder::I64(b), Val::I64(x)) => b.append_value(x),
                (Builder::I64(b), Val::Null) => b.append_null(),
                (Builder::F64(b), Val::F64(x)) => b.append_value(x),
                (Builder::F64(b), Val::Null) => b.append_null(),
                (Builder::Bool(b), Val::Bool(x)) => b.append_value(x),
                (Builder::Bool(b), Val::Null) => b.append_null(),
                (Builder::Ts(b), Val::Micros(x)) => b.append_value(x),
                (Builder::Ts(b), Val::Null) => b.append_null(),
                (Builder::Date(b), Val::Date(d)) => {
                    b.append_value(chrono::Datelike::num_days_from_ce(&d) - UNIX_EPOCH_DAYS_CE)
                }
                (Builder::Date(b), Val::Null) => b.append_null(),
                (_, v) => panic!("{name}.{}: value {v:?} of the wrong type", self.def.columns[i].name),
            }
        }
        assert!(values.next().is_none(), "{name}: too many values");
        self.len += 1;
    }

    /// The rows so far as a batch; the builders start again empty.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Str(b) => Arc::new(b.finish()),
                    Builder::I64(b) => Arc::new(b.finish()),
                    Builder::F64(b) => Arc::new(b.finish()),
                    Builder::Bool(b) => Arc::new(b.finish()),
                    Builder::Ts(b) => Arc::new(b.finish()),
                    Builder::Date(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        self.len = 0;
        RecordBatch::try_new(self.def.schema(), arrays)
    }
}
