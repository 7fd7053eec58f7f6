//! `local_date(timestamp)`: the calendar day of an instant in the configured
//! timezone. The lake stores UTC instants; periods are local days, and a booking at
//! 23:30 UTC belongs to the next day in Vietnam.

use std::sync::Arc;

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::array::{AsArray, Date32Array};
use datafusion::arrow::compute::{max, min};
use datafusion::arrow::datatypes::{DataType, Date32Type, TimeUnit, TimestampMicrosecondType};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// At most this many UTC days get a table of offsets per batch; a batch spread wider
/// is converted row by row.
const MAX_TABLE_DAYS: i64 = 4096;

/// The zone's offset from UTC in microseconds at an instant.
fn offset_micros(tz: &Tz, us: i64) -> Option<i64> {
    let at = DateTime::from_timestamp_micros(us)?;
    Some(i64::from(tz.offset_from_utc_datetime(&at.naive_utc()).fix().local_minus_utc()) * 1_000_000)
}

/// For each UTC day from `first`, the zone's offset if it is the same at the day's
/// start and at its end (then it holds all day: no zone changes its offset twice
/// within a day), else none.
fn day_offsets(tz: &Tz, first: i64, days: i64) -> Vec<Option<i64>> {
    (first..first + days)
        .map(|d| {
            let midnight = d.checked_mul(MICROS_PER_DAY)?;
            let start = offset_micros(tz, midnight)?;
            let end = offset_micros(tz, midnight.checked_add(MICROS_PER_DAY - 1)?)?;
            (start == end).then_some(start)
        })
        .collect()
}

fn day_by_rules(tz: &Tz, us: i64) -> Option<i32> {
    let at = DateTime::from_timestamp_micros(us)?;
    Some(Date32Type::from_naive_date(at.with_timezone(tz).date_naive()))
}

pub fn local_date(tz: Tz) -> ScalarUDF {
    let input = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    create_udf(
        "local_date",
        vec![input],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let instants = arrays[0].as_primitive::<TimestampMicrosecondType>();
            // Views apply this to every row of the state tables: the zone's rules are
            // looked up twice per UTC day the batch spans instead of once per row, and
            // a row's day is then plain arithmetic.
            let span = match (min(instants), max(instants)) {
                (Some(lo), Some(hi)) => Some((lo.div_euclid(MICROS_PER_DAY), hi.div_euclid(MICROS_PER_DAY))),
                _ => None,
            };
            let days: Date32Array = match span {
                Some((first, last)) if last - first < MAX_TABLE_DAYS => {
                    let offsets = day_offsets(&tz, first, last - first + 1);
                    instants.unary_opt(|us| match offsets[(us.div_euclid(MICROS_PER_DAY) - first) as usize] {
                        Some(offset) => i32::try_from(us.checked_add(offset)?.div_euclid(MICROS_PER_DAY)).ok(),
                        None => day_by_rules(&tz, us),
                    })
                }
                _ => instants.unary_opt(|us| day_by_rules(&tz, us)),
            };
            debug_assert_eq!(days.len(), instants.len());
            Ok(ColumnarValue::Array(Arc::new(days)))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, TimestampMicrosecondArray};
    use datafusion::logical_expr::ScalarFunctionArgs;

    fn run(tz: Tz, instants: Vec<Option<i64>>) -> Vec<Option<i32>> {
        let udf = local_date(tz);
        let array = Arc::new(TimestampMicrosecondArray::from(instants.clone()).with_timezone("UTC"));
        let field = Arc::new(datafusion::arrow::datatypes::Field::new("at", array.data_type().clone(), true));
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(array)],
                arg_fields: vec![field],
                number_rows: instants.len(),
                return_field: Arc::new(datafusion::arrow::datatypes::Field::new("d", DataType::Date32, true)),
                config_options: Arc::new(Default::default()),
            })
            .unwrap();
        let ColumnarValue::Array(a) = out else { panic!("an array") };
        a.as_primitive::<Date32Type>().iter().collect()
    }

    #[test]
    fn days_match_the_zone_rules_row_by_row() {
        // Every 37 minutes over two years, in a zone without daylight saving and in
        // one with it (the table of offsets must agree with chrono on every row,
        // transitions included), with nulls and a far instant that forces the
        // row-by-row path.
        let start = DateTime::parse_from_rfc3339("2023-12-31T00:00:00Z").unwrap().timestamp_micros();
        let mut instants: Vec<Option<i64>> = (0..28_500).map(|i| Some(start + i * 37 * 60_000_000)).collect();
        instants.insert(7, None);
        for tz in [chrono_tz::Asia::Ho_Chi_Minh, chrono_tz::Europe::London, chrono_tz::America::St_Johns] {
            let expect: Vec<Option<i32>> = instants.iter().map(|us| us.and_then(|us| day_by_rules(&tz, us))).collect();
            assert_eq!(run(tz, instants.clone()), expect, "{tz}");
            let mut wide = instants[..100].to_vec();
            wide.push(Some(0));
            let expect: Vec<Option<i32>> = wide.iter().map(|us| us.and_then(|us| day_by_rules(&tz, us))).collect();
            assert_eq!(run(tz, wide), expect, "{tz}, wide");
        }
    }
}
