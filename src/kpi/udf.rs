//! `local_date(timestamp)`: the calendar day of an instant in the configured
//! timezone. The lake stores UTC instants; periods are local days, and a booking at
//! 23:30 UTC belongs to the next day in Vietnam.

use std::sync::Arc;

use chrono::DateTime;
use chrono_tz::Tz;
use datafusion::arrow::array::{AsArray, Date32Array};
use datafusion::arrow::datatypes::{DataType, Date32Type, TimeUnit, TimestampMicrosecondType};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

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
            let days: Date32Array = instants
                .iter()
                .map(|us| {
                    let at = DateTime::from_timestamp_micros(us?)?;
                    Some(Date32Type::from_naive_date(at.with_timezone(&tz).date_naive()))
                })
                .collect();
            debug_assert_eq!(days.len(), instants.len());
            Ok(ColumnarValue::Array(Arc::new(days)))
        }),
    )
}
