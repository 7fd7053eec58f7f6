//! File drops: listing a folder, fingerprinting each file, and turning its lines into
//! rows of the target table or quarantined rows with their reasons.
//!
//! A file is read line by line: one line is one record, whatever it holds, so a line
//! with broken quoting or invalid UTF-8 is quarantined alone and never swallows the
//! lines after it (a CSV reader run over the whole file would read an unclosed quote
//! up to the end of the file). Because a line never depends on the lines before it,
//! a file is cut at line ends into spans that are parsed side by side
//! ([`FileParser::parse_all`]); only the duplicate-key check depends on line order, and
//! it runs after, over the spans in order ([`FileParser::settle`]).

use std::borrow::Cow;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use sha2::{Digest, Sha256};

use super::check::{self, Cell, Rejection};
use super::config::{DropFormat, DropSource, Validation};
use super::{IngestError, Quarantined, Reason, StrSet};
use crate::lake::LakeError;
use crate::lake::rows::{Rows, Val};
use crate::lake::schema::{ColType, TableDef};

mod json;

/// Bytes of a file one thread parses at a time: a span of this size gives a batch of
/// some 50,000 CSV rows.
pub const SPAN_BYTES: usize = 8 << 20;

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

/// Lines of a file that one thread parses: a byte range that starts and ends at line
/// ends, and the number of its first line.
#[derive(Debug, Clone)]
pub struct Span {
    pub range: Range<usize>,
    pub first_line: usize,
}

/// What a span gives before the duplicate-key check.
pub struct Part {
    batch: RecordBatch,
    /// Per accepted row: its key, line number and bytes (for a duplicate's raw text).
    keys: Vec<String>,
    lines: Vec<(usize, Range<usize>)>,
    /// With each quarantined row, its line number: a file's quarantine is kept in line order.
    quarantine: Vec<(usize, Quarantined)>,
    read: u64,
}

/// Rows of consecutive spans once the duplicate keys are out.
pub struct Settled {
    pub batches: Vec<RecordBatch>,
    pub quarantine: Vec<Quarantined>,
    /// Lines read, accepted or not.
    pub read: u64,
}

/// Everything a file's lines are read and checked with, made once from its header; it
/// is shared by the threads that parse the file's spans.
pub struct FileParser {
    table: &'static TableDef,
    src: DropSource,
    validation: Validation,
    file: String,
    tz: Tz,
    facilities: Arc<StrSet>,
    format: LineFormat,
    positions: Vec<Pos>,
    personal: Vec<Pos>,
    /// Where the lines after the header start, and the number of the first.
    body: usize,
    first_line: usize,
    /// The table's column for the file's name, filled as a row is pushed.
    source_file: Option<usize>,
}

impl FileParser {
    /// Reads the header (CSV) and maps the pipeline's fields onto it. `None` for an
    /// empty file.
    pub fn new(
        table: &'static TableDef,
        src: &DropSource,
        validation: &Validation,
        file: &str,
        bytes: &[u8],
        tz: Tz,
        facilities: Arc<StrSet>,
    ) -> Result<Option<Self>, IngestError> {
        let fields: Vec<&str> = src.columns.iter().map(|(_, f)| f.as_str()).collect();
        let (format, body, first_line) = match src.format {
            DropFormat::Csv => {
                if bytes.is_empty() {
                    return Ok(None);
                }
                let end = memchr::memchr(b'\n', bytes).map_or(bytes.len(), |i| i + 1);
                let header = trim_line(&bytes[..end]);
                let format =
                    LineFormat::csv(header).map_err(|e| IngestError::Source(format!("{file}: header: {e}")))?;
                (format, end, 2)
            }
            DropFormat::Jsonl => (LineFormat::Jsonl { keys: fields.iter().map(ToString::to_string).collect() }, 0, 1),
        };
        let positions = format.positions(&fields).map_err(|e| IngestError::Source(format!("{file}: {e}")))?;
        let personal = format.positions_lenient(&src.personal);
        Ok(Some(FileParser {
            table,
            src: src.clone(),
            validation: validation.clone(),
            file: file.to_string(),
            tz,
            facilities,
            format,
            positions,
            personal,
            body,
            first_line,
            source_file: table.index("source_file"),
        }))
    }

    /// The file's lines after the header, cut at line ends into spans of about
    /// `target` bytes.
    pub fn spans(&self, bytes: &[u8], target: usize) -> Vec<Span> {
        let (mut start, mut line) = (self.body, self.first_line);
        let mut spans = Vec::new();
        while start < bytes.len() {
            let cut = (start + target.max(1)).min(bytes.len());
            let end = match memchr::memchr(b'\n', &bytes[cut.saturating_sub(1)..]) {
                Some(i) if cut < bytes.len() => cut.saturating_sub(1) + i + 1,
                _ => bytes.len(),
            };
            spans.push(Span { range: start..end, first_line: line });
            line += memchr::memchr_iter(b'\n', &bytes[start..end]).count();
            start = end;
        }
        spans
    }

    /// Parses spans side by side, one thread each; the parts come back in span order.
    pub fn parse_all(&self, bytes: &[u8], spans: &[Span]) -> Result<Vec<Part>, IngestError> {
        let Some((first, rest)) = spans.split_first() else { return Ok(Vec::new()) };
        std::thread::scope(|s| {
            let others: Vec<_> = rest.iter().map(|span| s.spawn(move || self.parse(bytes, span))).collect();
            let mut parts = vec![self.parse(bytes, first)?];
            for handle in others {
                parts.push(handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?);
            }
            Ok(parts)
        })
    }

    /// One span's lines into accepted rows (every check but the duplicate key's) and
    /// quarantined ones.
    pub fn parse(&self, bytes: &[u8], span: &Span) -> Result<Part, IngestError> {
        let mut rows = Rows::new(self.table);
        let (mut keys, mut lines, mut quarantine, mut read) = (Vec::new(), Vec::new(), Vec::new(), 0);
        let mut reader = LineReader::default();
        let mut cells: Vec<Cell> = Vec::with_capacity(self.table.columns.len());
        let mut at = span.range.start;
        for (i, raw) in split_lines(&bytes[span.range.clone()]).enumerate() {
            let (n, from) = (span.first_line + i, at);
            at += raw.len() + 1;
            let line = trim_line(raw);
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            read += 1;
            let refused = match std::str::from_utf8(line) {
                Err(e) => Some((
                    Reason::InvalidUtf8,
                    format!("invalid UTF-8 after byte {}", e.valid_up_to()),
                    String::from_utf8_lossy(line),
                )),
                Ok(text) => match self.read_line(&mut reader, text, n, &mut cells) {
                    Ok(()) => {
                        let file = Val::Str(&self.file);
                        rows.push_values(
                            cells
                                .iter()
                                .enumerate()
                                .map(|(i, c)| if Some(i) == self.source_file { file } else { c.val() }),
                        );
                        keys.push(check::key(self.table, &cells));
                        lines.push((n, from..from + line.len()));
                        None
                    }
                    Err((reason, detail)) => Some((reason, detail, Cow::Borrowed(text))),
                },
            };
            if let Some((reason, detail, text)) = refused {
                quarantine.push((n, self.quarantined(n, reason, detail, &text)));
            }
        }
        Ok(Part { batch: rows.finish().map_err(LakeError::from)?, keys, lines, quarantine, read })
    }

    /// The parts of consecutive spans, in order, with each row whose key is in `seen`
    /// or came earlier moved to the quarantine; `seen` gains the keys kept.
    pub fn settle(&self, parts: Vec<Part>, bytes: &[u8], seen: &mut StrSet) -> Result<Settled, IngestError> {
        let mut out = Settled { batches: Vec::new(), quarantine: Vec::new(), read: 0 };
        for part in parts {
            let mut quarantine = part.quarantine;
            let mut keep = Vec::with_capacity(part.keys.len());
            for (key, (n, range)) in part.keys.into_iter().zip(part.lines) {
                // One hash lookup a row; a duplicate's key, moved into the failed
                // insert, is read again from its line for the message.
                let fresh = seen.insert(key);
                if !fresh {
                    let text = String::from_utf8_lossy(&bytes[range]);
                    let mut cells = Vec::new();
                    self.read_line(&mut LineReader::default(), &text, n, &mut cells)
                        .expect("the line was accepted once already");
                    let key = check::key(self.table, &cells);
                    let detail = format!("{} {key:?} was already ingested", self.table.key.join("+"));
                    quarantine.push((n, self.quarantined(n, Reason::Duplicate, detail, &text)));
                }
                keep.push(fresh);
            }
            let batch = if keep.iter().all(|&k| k) {
                part.batch
            } else {
                filter_record_batch(&part.batch, &BooleanArray::from(keep)).map_err(LakeError::from)?
            };
            quarantine.sort_by_key(|(n, _)| *n);
            out.read += part.read;
            out.quarantine.extend(quarantine.into_iter().map(|(_, q)| q));
            out.batches.push(batch);
        }
        Ok(out)
    }

    fn quarantined(&self, n: usize, reason: Reason, detail: String, text: &str) -> Quarantined {
        Quarantined {
            source: self.file.clone(),
            location: format!("line {n}"),
            reason,
            detail,
            raw: self.format.mask(text, &self.personal, &self.src.personal),
        }
    }

    /// Splits, converts and checks one line into `cells` (in table column order).
    fn read_line(&self, reader: &mut LineReader, text: &str, n: usize, cells: &mut Vec<Cell>) -> Result<(), Rejection> {
        let fields = reader.split(&self.format, text)?;
        self.build_row(&fields, n, cells)
    }

    fn build_row(&self, values: &Fields<'_>, line: usize, cells: &mut Vec<Cell>) -> Result<(), Rejection> {
        let table = self.table;
        cells.clear();
        let mut mapped = self.src.columns.iter().zip(&self.positions).enumerate();
        for col in table.columns {
            let cell = if col.origin == crate::lake::schema::Origin::Derived {
                match col.name {
                    // Pushed from the parser's own name (see `parse`).
                    "source_file" => Cell::Null,
                    "source_line" => Cell::I64(line as i64),
                    // Filled once the month's column is known, below.
                    _ => Cell::Null,
                }
            } else {
                let (j, ((name, field), pos)) = mapped.next().expect("mapping covers every mapped column, in order");
                debug_assert_eq!(*name, col.name);
                let cell = convert(values, pos, j, col.ty, self.tz)
                    .map_err(|(reason, d)| (reason, format!("{field}: {d}")))?;
                if cell == Cell::Null && !col.nullable {
                    return Err((Reason::MissingField, format!("{field} is empty")));
                }
                cell
            };
            cells.push(cell);
        }
        if let (Some(m), Some(of)) = (table.index("month"), month_source(table)) {
            let Cell::Micros(t) = cells[of] else { return Err((Reason::MissingField, "no event time".into())) };
            cells[m] = check::month(DateTime::from_timestamp_micros(t).unwrap_or_default(), self.tz);
        }
        check::validate(table, &self.validation, &self.facilities, cells)
    }
}

/// The lines of `bytes` as `split` at `\n` gives them (the part after the last line end
/// included, empty or not), found with memchr: byte loops here and in `spans` were
/// about 5 % of a JSON drop run.
fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr(b'\n', r) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// A line without its line end.
fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The fields of one line: for CSV by position (the unquoted text and where each
/// field ends in it), for JSON the mapped fields in mapping order.
enum Fields<'a> {
    Csv { text: &'a str, ends: &'a [usize] },
    Json { line: &'a str, values: Vec<json::Value<'a>> },
}

fn csv_field<'a>(text: &'a str, ends: &[usize], i: usize) -> &'a str {
    &text[if i == 0 { 0 } else { ends[i - 1] }..ends[i]]
}

enum LineFormat {
    Csv {
        header: Vec<String>,
    },
    /// The mapped fields, in mapping order: what a line's object is read for.
    Jsonl {
        keys: Vec<String>,
    },
}

/// Where a mapped field is found on a line: its CSV column, or its place in the
/// mapping (JSON).
#[derive(Debug, Clone)]
enum Pos {
    Index(usize),
    Key(String),
}

/// One thread's buffers for splitting lines, reused from line to line.
struct LineReader {
    csv: csv_core::Reader,
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl Default for LineReader {
    fn default() -> Self {
        // `csv_core::Reader::default()` is not a comma-separated reader: `new()` is.
        LineReader { csv: csv_core::Reader::new(), text: Vec::new(), ends: Vec::new() }
    }
}

impl LineFormat {
    fn csv(header: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(header).map_err(|_| "not UTF-8".to_string())?;
        let mut reader = LineReader::default();
        let (text, ends) = reader.split_csv(text).map_err(|_| "broken quoting".to_string())?;
        let header = (0..ends.len()).map(|i| csv_field(text, ends, i).trim().to_string()).collect();
        Ok(LineFormat::Csv { header })
    }

    fn positions(&self, fields: &[&str]) -> Result<Vec<Pos>, String> {
        fields
            .iter()
            .map(|f| match self {
                LineFormat::Csv { header } => header
                    .iter()
                    .position(|h| h == f)
                    .map(Pos::Index)
                    .ok_or_else(|| format!("the header has no field {f:?} (it has {})", header.join(", "))),
                LineFormat::Jsonl { .. } => Ok(Pos::Key(f.to_string())),
            })
            .collect()
    }

    fn positions_lenient(&self, fields: &[String]) -> Vec<Pos> {
        fields.iter().filter_map(|f| self.positions(&[f.as_str()]).ok()?.pop()).collect()
    }

    /// The raw text with the personal fields replaced by `***`; a line that cannot be
    /// parsed is masked field by field as well as its shape allows.
    fn mask(&self, text: &str, personal: &[Pos], names: &[String]) -> String {
        if personal.is_empty() && names.is_empty() {
            return text.to_string();
        }
        match self {
            LineFormat::Csv { .. } => {
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
            LineFormat::Jsonl { .. } => match serde_json::from_str::<serde_json::Value>(text) {
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

impl LineReader {
    fn split<'a>(&'a mut self, format: &LineFormat, text: &'a str) -> Result<Fields<'a>, Rejection> {
        match format {
            LineFormat::Csv { header } => {
                // RFC 4180 doubles a quote inside a quoted field, so a line whose quotes
                // do not pair up has a field that never closes.
                if memchr::memchr_iter(b'"', text.as_bytes()).count() % 2 == 1 {
                    return Err((Reason::BrokenQuoting, "a quoted field is not closed on its line".into()));
                }
                let (text, ends) = self.split_csv(text).map_err(|e| (Reason::BrokenQuoting, e))?;
                if ends.len() != header.len() {
                    return Err((
                        Reason::WrongColumnCount,
                        format!("{} fields where the header has {}", ends.len(), header.len()),
                    ));
                }
                Ok(Fields::Csv { text, ends })
            }
            LineFormat::Jsonl { keys } => {
                let values = json::fields(text, keys).map_err(|e| (Reason::BrokenJson, e))?;
                Ok(Fields::Json { line: text, values })
            }
        }
    }

    /// One CSV line into its unquoted text and the end of each field in it.
    fn split_csv<'a>(&'a mut self, line: &str) -> Result<(&'a str, &'a [usize]), String> {
        use csv_core::ReadRecordResult::*;
        self.csv.reset();
        // No field is longer than its line, and no line has more fields than bytes.
        self.text.resize(line.len() + 1, 0);
        self.ends.resize(line.len() + 2, 0);
        let mut input = line.as_bytes();
        let (mut out_at, mut ends_at) = (0, 0);
        loop {
            let (res, nin, nout, nend) =
                self.csv.read_record(input, &mut self.text[out_at..], &mut self.ends[ends_at..]);
            input = &input[nin..];
            out_at += nout;
            ends_at += nend;
            match res {
                InputEmpty => continue,
                Record | End => break,
                OutputFull | OutputEndsFull => return Err("a field does not fit its line".into()),
            }
        }
        // The line is UTF-8 and csv_core only drops ASCII quotes and commas, so the text
        // stays UTF-8 and every field end falls between characters.
        let text = std::str::from_utf8(&self.text[..out_at]).map_err(|_| "not UTF-8".to_string())?;
        Ok((text, &self.ends[..ends_at]))
    }
}

/// The column whose local month partitions a drop table: its first time column.
fn month_source(table: &TableDef) -> Option<usize> {
    table.columns.iter().position(|c| c.ty == ColType::Timestamp)
}

/// The `j`th mapped field of a line, found at `pos`, as a value of type `ty`.
fn convert(values: &Fields<'_>, pos: &Pos, j: usize, ty: ColType, tz: Tz) -> Result<Cell, Rejection> {
    let bad = |reason: Reason, what: &str, v: &dyn std::fmt::Display| {
        Err((reason, format!("{:?} is not {what}", v.to_string())))
    };
    let text: Option<Cow<'_, str>> = match (values, pos) {
        (Fields::Csv { text, ends }, Pos::Index(i)) => {
            let s = csv_field(text, ends, *i).trim();
            (!s.is_empty()).then(|| s.into())
        }
        (Fields::Json { line, values }, Pos::Key(key)) => match &values[j] {
            json::Value::Null => None,
            json::Value::Str(s) => Some(s.trim().into()),
            json::Value::Num(n) if ty != ColType::Str => Some(n.to_string().into()),
            json::Value::Bool(b) if ty == ColType::Bool => Some(b.to_string().into()),
            other => return bad(Reason::BadType, type_name(ty), &json::display(line, key, other)),
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
    let naive = match local_digits(text.as_bytes()) {
        Some(naive) => naive,
        None => NaiveDateTime::parse_from_str(text, local).ok()?,
    };
    tz.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc))
}

/// `YYYY-MM-DD?HH:MM[:SS]` with every digit in place, read without a format string
/// (which costs more than the rest of a row). `None` sends anything else, a leap
/// second included, to chrono's parser, which has the last word.
fn local_digits(b: &[u8]) -> Option<NaiveDateTime> {
    let num = |r: Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let seps = b[4] == b'-' && b[7] == b'-' && b[13] == b':' && (b.len() == 16 || b[16] == b':');
    if !seps {
        return None;
    }
    let seconds = if b.len() == 19 { num(17..19)? } else { 0 };
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    date.and_hms_opt(num(11..13)?, num(14..16)?, seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_split_with_quotes() {
        // One reader for every line, as a parsing thread uses it.
        let mut r = LineReader::default();
        let mut fields = |line: &str| {
            let (text, ends) = r.split_csv(line).unwrap();
            (0..ends.len()).map(|i| csv_field(text, ends, i).to_string()).collect::<Vec<_>>()
        };
        assert_eq!(fields("a,\"b, c\",\"d \"\"e\"\"\""), ["a", "b, c", "d \"e\""]);
        assert_eq!(fields("x,,y"), ["x", "", "y"]);
    }

    #[test]
    fn lines_split_as_slice_split_does() {
        let cases: [&[u8]; 6] = [b"", b"a", b"a\n", b"a\nb", b"\n\nx\n\n", b"ab\r\ncd"];
        for text in cases {
            let ours: Vec<&[u8]> = split_lines(text).collect();
            let split: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
            assert_eq!(ours, split, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn spans_end_at_line_ends_and_count_lines() {
        let src = DropSource {
            folder: PathBuf::new(),
            glob: "*".into(),
            format: DropFormat::Csv,
            columns: Vec::new(),
            personal: Vec::new(),
        };
        let validation = Validation {
            max_quarantine_share: 0.05,
            facilities: Vec::new(),
            ranges: Vec::new(),
            order: Vec::new(),
            max_rows_per_run: u64::MAX,
        };
        let bytes = b"h1,h2\naaaa,1\nbb,2\ncccccc,3\nd,4";
        let table = &crate::lake::schema::TELEMEDICINE_SESSIONS;
        let parser =
            FileParser::new(table, &src, &validation, "f.csv", bytes, Tz::UTC, Arc::default()).unwrap().unwrap();
        let spans = parser.spans(bytes, 5);
        let lines: Vec<(&[u8], usize)> = spans.iter().map(|s| (&bytes[s.range.clone()], s.first_line)).collect();
        assert_eq!(lines, [(&b"aaaa,1\n"[..], 2), (&b"bb,2\n"[..], 3), (&b"cccccc,3\n"[..], 4), (&b"d,4"[..], 5)]);
        let whole = parser.spans(bytes, 1 << 20);
        assert_eq!((whole.len(), whole[0].range.clone(), whole[0].first_line), (1, 6..bytes.len(), 2));
    }

    #[test]
    fn local_times_are_read_in_the_timezone() {
        let tz: Tz = "Asia/Ho_Chi_Minh".parse().unwrap();
        let t = parse_time("2024-03-05 09:12", tz).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-03-05T02:12:00+00:00");
        assert_eq!(parse_time("2024-03-05T09:12:00+07:00", tz), Some(t));
        assert_eq!(parse_time("31/02/2023 9h", tz), None);
        assert_eq!(parse_time("2024-03-05 09:12:30", tz).unwrap().to_rfc3339(), "2024-03-05T02:12:30+00:00");
        assert_eq!(parse_time("2024-02-30 09:12", tz), None);
        assert_eq!(parse_time("2024-03-05 24:00", tz), None);
        assert_eq!(parse_time("2023-02-30T25:00:00+07:00", tz), None);
    }
}
