//! File drops: listing a folder, fingerprinting each file, and turning its lines into
//! rows of the target table or quarantined rows with their reasons.
//!
//! A file is read line by line: one line is one record, whatever it holds, so a line
//! with broken quoting or invalid UTF-8 is quarantined alone and never swallows the
//! lines after it (a CSV reader run over the whole file would read an unclosed quote
//! up to the end of the file).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use super::check::{Cell, Rejection};
use super::config::{DropFormat, DropSource, Validation};
use super::{IngestError, Quarantined, Reason};
use crate::lake::rows::{Rows, Val};
use crate::lake::schema::{ColType, TableDef};

/// A file as it was seen: what the run history keeps of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileStamp {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// The files of a drop folder matching its glob, by name.
pub fn list(src: &DropSource) -> Result<Vec<PathBuf>, IngestError> {
    let io = |e| IngestError::Io(src.folder.clone(), e);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src.folder)
        .map_err(io)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| super::config::glob_match(&src.glob, &n.to_string_lossy())))
        .collect();
    files.sort();
    Ok(files)
}

pub fn stamp(path: &Path, bytes: &[u8]) -> FileStamp {
    FileStamp {
        name: path.file_name().unwrap_or_default().to_string_lossy().into_owned(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    }
}

/// What a drop run checks rows against, and remembers between files.
pub struct DropCheck<'a> {
    pub tz: Tz,
    pub facilities: &'a HashSet<String>,
    /// Keys already in the table or earlier in this run.
    pub seen: &'a mut HashSet<String>,
}

/// Counts of one file.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileCounts {
    pub read: u64,
    pub accepted: u64,
    pub quarantined: u64,
}

/// Parses one file into `rows` and `quarantine`.
#[allow(clippy::too_many_arguments)]
pub fn parse_file(
    table: &'static TableDef,
    src: &DropSource,
    validation: &Validation,
    file: &str,
    bytes: &[u8],
    check: &mut DropCheck<'_>,
    rows: &mut Rows,
    quarantine: &mut Vec<Quarantined>,
) -> Result<FileCounts, IngestError> {
    let mut lines = bytes.split(|&b| b == b'\n').enumerate().map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)));
    let mut parser = match src.format {
        DropFormat::Csv => {
            let Some((_, header)) = lines.next() else { return Ok(FileCounts::default()) };
            LineParser::csv(header).map_err(|e| IngestError::Source(format!("{file}: header: {e}")))?
        }
        DropFormat::Jsonl => LineParser::Jsonl,
    };
    let fields: Vec<&str> = src.columns.iter().map(|(_, f)| f.as_str()).collect();
    let positions = parser.positions(&fields).map_err(|e| IngestError::Source(format!("{file}: {e}")))?;
    let personal = parser.positions_lenient(&src.personal);
    let mut counts = FileCounts::default();
    let mut cells: Vec<Cell> = Vec::with_capacity(table.columns.len());
    for (n, line) in lines {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        counts.read += 1;
        let mut reject = |reason: Reason, detail: String, raw: String| {
            quarantine.push(Quarantined {
                source: file.to_string(),
                location: format!("line {n}"),
                reason,
                detail,
                raw,
            });
        };
        let text = match std::str::from_utf8(line) {
            Ok(t) => t,
            Err(e) => {
                let raw = parser.mask(&String::from_utf8_lossy(line), &personal, &src.personal);
                reject(Reason::InvalidUtf8, format!("invalid UTF-8 after byte {}", e.valid_up_to()), raw);
                counts.quarantined += 1;
                continue;
            }
        };
        let values = match parser.split(text) {
            Ok(v) => v,
            Err((reason, detail)) => {
                reject(reason, detail, parser.mask(text, &personal, &src.personal));
                counts.quarantined += 1;
                continue;
            }
        };
        match build_row(table, src, validation, &positions, &values, file, n, check, &mut cells) {
            Ok(()) => {
                let vals: Vec<Val<'_>> = cells.iter().map(Cell::val).collect();
                rows.push(&vals);
                counts.accepted += 1;
            }
            Err((reason, detail)) => {
                reject(reason, detail, parser.mask(text, &personal, &src.personal));
                counts.quarantined += 1;
            }
        }
    }
    Ok(counts)
}

/// The fields of one line: for CSV by position (the unquoted text and where each
/// field ends in it), for JSON by name.
enum Fields {
    Csv { text: String, ends: Vec<usize> },
    Json(serde_json::Map<String, serde_json::Value>),
}

impl Fields {
    fn csv_field<'a>(text: &'a str, ends: &[usize], i: usize) -> &'a str {
        &text[if i == 0 { 0 } else { ends[i - 1] }..ends[i]]
    }
}

enum LineParser {
    Csv { header: Vec<String>, reader: csv_core::Reader },
    Jsonl,
}

/// Where a mapped field is found on a line.
#[derive(Debug, Clone)]
enum Pos {
    Index(usize),
    Key(String),
}

impl LineParser {
    fn csv(header: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(header).map_err(|_| "not UTF-8".to_string())?;
        let mut reader = csv_core::Reader::new();
        let (text, ends) = split_csv(&mut reader, text).map_err(|_| "broken quoting".to_string())?;
        let header = (0..ends.len()).map(|i| Fields::csv_field(&text, &ends, i).trim().to_string()).collect();
        Ok(LineParser::Csv { header, reader })
    }

    fn positions(&self, fields: &[&str]) -> Result<Vec<Pos>, String> {
        fields
            .iter()
            .map(|f| match self {
                LineParser::Csv { header, .. } => header
                    .iter()
                    .position(|h| h == f)
                    .map(Pos::Index)
                    .ok_or_else(|| format!("the header has no field {f:?} (it has {})", header.join(", "))),
                LineParser::Jsonl => Ok(Pos::Key(f.to_string())),
            })
            .collect()
    }

    fn positions_lenient(&self, fields: &[String]) -> Vec<Pos> {
        fields.iter().filter_map(|f| self.positions(&[f.as_str()]).ok()?.pop()).collect()
    }

    fn split(&mut self, text: &str) -> Result<Fields, (Reason, String)> {
        match self {
            LineParser::Csv { header, reader } => {
                // RFC 4180 doubles a quote inside a quoted field, so a line whose quotes
                // do not pair up has a field that never closes.
                if text.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
                    return Err((Reason::BrokenQuoting, "a quoted field is not closed on its line".into()));
                }
                let (text, ends) = split_csv(reader, text).map_err(|e| (Reason::BrokenQuoting, e))?;
                if ends.len() != header.len() {
                    return Err((
                        Reason::WrongColumnCount,
                        format!("{} fields where the header has {}", ends.len(), header.len()),
                    ));
                }
                Ok(Fields::Csv { text, ends })
            }
            LineParser::Jsonl => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(map)) => Ok(Fields::Json(map)),
                Ok(_) => Err((Reason::BrokenJson, "the line is not a JSON object".into())),
                Err(e) => Err((Reason::BrokenJson, e.to_string())),
            },
        }
    }

    /// The raw text with the personal fields replaced by `***`; a line that cannot be
    /// parsed is masked field by field as well as its shape allows.
    fn mask(&mut self, text: &str, personal: &[Pos], names: &[String]) -> String {
        if personal.is_empty() && names.is_empty() {
            return text.to_string();
        }
        match self {
            LineParser::Csv { .. } => {
                let mut parts: Vec<String> = text.split(',').map(str::to_string).collect();
                for p in personal {
                    if let Pos::Index(i) = p {
                        if let Some(v) = parts.get_mut(*i) {
                            *v = "***".into();
                        }
                    }
                }
                parts.join(",")
            }
            LineParser::Jsonl => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(mut map)) => {
                    for n in names {
                        if let Some(v) = map.get_mut(n) {
                            *v = "***".into();
                        }
                    }
                    serde_json::Value::Object(map).to_string()
                }
                _ => {
                    let mut out = text.to_string();
                    for n in names {
                        let pattern = format!("\"{n}\":");
                        if let Some(start) = out.find(&pattern) {
                            let from = start + pattern.len();
                            let end = out[from..].find([',', '}']).map_or(out.len(), |e| from + e);
                            out.replace_range(from..end, "\"***\"");
                        }
                    }
                    out
                }
            },
        }
    }
}

/// One CSV line into its unquoted text and the end of each field in it, with a
/// reusable `csv_core` reader (two allocations a line, whatever its width).
fn split_csv(reader: &mut csv_core::Reader, line: &str) -> Result<(String, Vec<usize>), String> {
    use csv_core::ReadRecordResult::*;
    reader.reset();
    let mut output = vec![0u8; line.len() + 1];
    let mut ends = vec![0usize; line.len() + 2];
    let mut input = line.as_bytes();
    let (mut out_at, mut ends_at) = (0, 0);
    loop {
        let (res, nin, nout, nend) = reader.read_record(input, &mut output[out_at..], &mut ends[ends_at..]);
        input = &input[nin..];
        out_at += nout;
        ends_at += nend;
        match res {
            InputEmpty => continue,
            Record | End => break,
            OutputFull | OutputEndsFull => return Err("a field does not fit its line".into()),
        }
    }
    output.truncate(out_at);
    ends.truncate(ends_at);
    // The line is UTF-8 and csv_core only drops ASCII quotes and commas, so the text
    // stays UTF-8 and every field end falls between characters.
    let text = String::from_utf8(output).map_err(|_| "not UTF-8".to_string())?;
    Ok((text, ends))
}

/// Converts and checks one line's mapped fields into `cells` (in table column order).
#[allow(clippy::too_many_arguments)]
fn build_row(
    table: &'static TableDef,
    src: &DropSource,
    validation: &Validation,
    positions: &[Pos],
    values: &Fields,
    file: &str,
    line: usize,
    check: &mut DropCheck<'_>,
    cells: &mut Vec<Cell>,
) -> Result<(), Rejection> {
    cells.clear();
    let mut mapped = src.columns.iter().zip(positions);
    for col in table.columns {
        let cell = if col.origin == crate::lake::schema::Origin::Derived {
            match col.name {
                "source_file" => Cell::Str(file.to_string()),
                "source_line" => Cell::I64(line as i64),
                // Filled once the month's column is known, below.
                _ => Cell::Null,
            }
        } else {
            let ((name, field), pos) = mapped.next().expect("mapping covers every mapped column, in order");
            debug_assert_eq!(*name, col.name);
            let cell =
                convert(values, pos, col.ty, check.tz).map_err(|(reason, d)| (reason, format!("{field}: {d}")))?;
            if cell == Cell::Null && !col.nullable {
                return Err((Reason::MissingField, format!("{field} is empty")));
            }
            cell
        };
        cells.push(cell);
    }
    if let (Some(m), Some(of)) = (table.index("month"), month_source(table)) {
        let Cell::Micros(t) = cells[of] else { return Err((Reason::MissingField, "no event time".into())) };
        cells[m] = super::check::month(DateTime::from_timestamp_micros(t).unwrap_or_default(), check.tz);
    }
    super::check::validate(table, validation, check.facilities, Some(&mut *check.seen), cells)
}

/// The column whose local month partitions a drop table: its first time column.
fn month_source(table: &TableDef) -> Option<usize> {
    table.columns.iter().position(|c| c.ty == ColType::Timestamp)
}

fn convert(values: &Fields, pos: &Pos, ty: ColType, tz: Tz) -> Result<Cell, Rejection> {
    let bad = |reason: Reason, what: &str, v: &dyn std::fmt::Display| {
        Err((reason, format!("{:?} is not {what}", v.to_string())))
    };
    let text: Option<std::borrow::Cow<'_, str>> = match (values, pos) {
        (Fields::Csv { text, ends }, Pos::Index(i)) => {
            let s = Fields::csv_field(text, ends, *i).trim();
            (!s.is_empty()).then(|| s.into())
        }
        (Fields::Json(map), Pos::Key(k)) => match map.get(k) {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.trim().into()),
            Some(serde_json::Value::Number(n)) if ty != ColType::Str => Some(n.to_string().into()),
            Some(serde_json::Value::Bool(b)) if ty == ColType::Bool => Some(b.to_string().into()),
            Some(other) => return bad(Reason::BadType, type_name(ty), other),
        },
        _ => unreachable!("positions are made for the parser's format"),
    };
    let Some(text) = text else { return Ok(Cell::Null) };
    Ok(match ty {
        ColType::Str => Cell::Str(text.into_owned()),
        ColType::I64 => match text.parse() {
            Ok(v) => Cell::I64(v),
            Err(_) => return bad(Reason::BadType, "an integer", &text),
        },
        ColType::F64 => match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Cell::F64(v),
            _ => return bad(Reason::BadType, "a number", &text),
        },
        ColType::Bool => match text.as_ref() {
            "true" | "1" | "yes" => Cell::Bool(true),
            "false" | "0" | "no" => Cell::Bool(false),
            _ => return bad(Reason::BadType, "true or false", &text),
        },
        ColType::Timestamp => match parse_time(&text, tz) {
            Some(t) => Cell::Micros(t.timestamp_micros()),
            None => return bad(Reason::BadDate, "a date and time", &text),
        },
        ColType::Date => match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(d) => Cell::Date(d),
            Err(_) => return bad(Reason::BadDate, "a date (YYYY-MM-DD)", &text),
        },
    })
}

fn type_name(ty: ColType) -> &'static str {
    match ty {
        ColType::Str => "text",
        ColType::I64 => "an integer",
        ColType::F64 => "a number",
        ColType::Bool => "true or false",
        ColType::Timestamp => "a date and time",
        ColType::Date => "a date",
    }
}

/// RFC 3339, or a local date and time (`YYYY-MM-DD HH:MM[:SS]`, with a space or `T`)
/// in the configured timezone.
pub fn parse_time(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    // The shape picks the one format worth trying (a drop holds millions of these):
    // local times have 16 or 19 characters, RFC 3339 needs an offset after those.
    let local = match (text.len(), text.as_bytes().get(10)) {
        (16, Some(b' ')) => "%Y-%m-%d %H:%M",
        (16, Some(b'T')) => "%Y-%m-%dT%H:%M",
        (19, Some(b' ')) => "%Y-%m-%d %H:%M:%S",
        (19, Some(b'T')) => "%Y-%m-%dT%H:%M:%S",
        _ => return DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc)),
    };
    let naive = NaiveDateTime::parse_from_str(text, local).ok()?;
    tz.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_split_with_quotes() {
        // One reader for every line, as the parser uses it.
        let mut r = csv_core::Reader::new();
        let mut fields = |line: &str| {
            let (text, ends) = split_csv(&mut r, line).unwrap();
            (0..ends.len()).map(|i| Fields::csv_field(&text, &ends, i).to_string()).collect::<Vec<_>>()
        };
        assert_eq!(fields("a,\"b, c\",\"d \"\"e\"\"\""), ["a", "b, c", "d \"e\""]);
        assert_eq!(fields("x,,y"), ["x", "", "y"]);
    }

    #[test]
    fn local_times_are_read_in_the_timezone() {
        let tz: Tz = "Asia/Ho_Chi_Minh".parse().unwrap();
        let t = parse_time("2024-03-05 09:12", tz).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-03-05T02:12:00+00:00");
        assert_eq!(parse_time("2024-03-05T09:12:00+07:00", tz), Some(t));
        assert_eq!(parse_time("31/02/2023 9h", tz), None);
        assert_eq!(parse_time("2023-02-30T25:00:00+07:00", tz), None);
    }
}
