//! `homedoc export dhis2`: the KPIs of a period by province (34 set), as a DHIS2
//! dataValueSets JSON document and as ADX XML (IHE's aggregate data exchange, which
//! DHIS2 imports too), with the data element and organisation unit ids of the
//! mapping file `dhis2.toml` in the SQL folder.

use std::collections::BTreeMap;

use chrono::Datelike;
use quick_xml::Writer;
use serde::Deserialize;

use super::ReportError;
use crate::domain::BoundarySet;
use crate::kpi::{By, Engine, Grain, KpiRequest, Period};

/// The built-in mapping file.
pub const BUILT_IN: &str = include_str!("../../sql/dhis2.toml");

/// ADX's namespace.
pub const ADX_NAMESPACE: &str = "urn:ihe:qrph:adx:2015";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dhis2Mapping {
    pub data_set: String,
    pub category_option_combo: String,
    pub attribute_option_combo: String,
    /// KPI id -> data element id.
    pub data_elements: BTreeMap<String, String>,
    /// 34-set province code -> organisation unit id.
    pub org_units: BTreeMap<String, String>,
}

/// DHIS2's ids: 11 letters and digits, a letter first.
fn is_uid(s: &str) -> bool {
    s.len() == 11 && s.bytes().all(|b| b.is_ascii_alphanumeric()) && s.as_bytes()[0].is_ascii_alphabetic()
}

impl Dhis2Mapping {
    /// Parses a mapping; every malformed id is reported (KPI ids are checked against
    /// the catalog by [`Dhis2Mapping::problems`]).
    pub fn parse(text: &str) -> Result<Self, String> {
        let m: Self = toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))?;
        let mut bad = Vec::new();
        for (what, id) in [
            ("data_set", &m.data_set),
            ("category_option_combo", &m.category_option_combo),
            ("attribute_option_combo", &m.attribute_option_combo),
        ] {
            if !is_uid(id) {
                bad.push(format!("{what} {id:?}"));
            }
        }
        for (k, id) in m.data_elements.iter().chain(&m.org_units) {
            if !is_uid(id) {
                bad.push(format!("{k:?} -> {id:?}"));
            }
        }
        if bad.is_empty() {
            Ok(m)
        } else {
            Err(format!("not DHIS2 ids (11 letters and digits, a letter first): {}", bad.join(", ")))
        }
    }

    /// KPIs the mapping names that the catalog does not have.
    pub fn problems(&self, catalog: &crate::kpi::Catalog) -> Vec<String> {
        self.data_elements
            .keys()
            .filter(|k| catalog.kpi(k).is_none())
            .map(|k| format!("dhis2.toml: data element for {k:?}, which is not a KPI of sql/kpi"))
            .collect()
    }
}

/// The mapping of the SQL folder (`dhis2.toml`), or the built-in one.
pub fn load(sql_dir: Option<&std::path::Path>) -> Result<Dhis2Mapping, String> {
    let Some(dir) = sql_dir else { return Dhis2Mapping::parse(BUILT_IN) };
    let path = dir.join("dhis2.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => Dhis2Mapping::parse(&text).map_err(|e| format!("dhis2.toml: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Dhis2Mapping::parse(BUILT_IN),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

impl Default for Dhis2Mapping {
    fn default() -> Self {
        Self::parse(BUILT_IN).expect("the built-in mapping parses")
    }
}

/// A period as DHIS2 writes it (`20240715`, `2024W27`, `202407`, `2024Q3`, `2024`,
/// `2024Oct` for the year from October 2024) and as ADX does (`start/duration`).
pub fn periods(p: &Period) -> Result<(String, String), ReportError> {
    let s = p.start;
    let (dhis2, duration) = match p.grain {
        Some(Grain::Day) => (s.format("%Y%m%d").to_string(), "P1D"),
        Some(Grain::Week) => (format!("{}W{}", s.iso_week().year(), s.iso_week().week()), "P7D"),
        Some(Grain::Month) => (s.format("%Y%m").to_string(), "P1M"),
        Some(Grain::Quarter) => (format!("{}Q{}", s.year(), (s.month() - 1) / 3 + 1), "P3M"),
        Some(Grain::Year) => (s.year().to_string(), "P1Y"),
        Some(Grain::FiscalYear) => (format!("{}Oct", s.year()), "P1Y"),
        None => {
            return Err(ReportError::Usage(format!(
                "DHIS2 has no period for the range {p}: export a day, week, month, quarter, year or FY"
            )));
        }
    };
    Ok((dhis2, format!("{s}/{duration}")))
}

/// One value: KPI, province, value as DHIS2 wants it written.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kpi: String,
    pub province: String,
    pub value: String,
}

/// The values of every mapped KPI by province for `period`.
pub async fn values(engine: &Engine, mapping: &Dhis2Mapping, period: &Period) -> Result<Vec<Value>, ReportError> {
    let mut out = Vec::new();
    for id in mapping.data_elements.keys() {
        let req = KpiRequest { by: By::Province, boundary: BoundarySet::P34, ..KpiRequest::new(period.clone()) };
        let result = engine.kpi(id, &req).await?;
        for r in result.rows {
            let Some(v) = r.value else { continue };
            let value = if result.meta.unit.is_ratio() { format!("{:.2}", v) } else { format!("{}", v.round() as i64) };
            out.push(Value { kpi: id.clone(), province: r.unit, value });
        }
    }
    Ok(out)
}

fn org_unit<'a>(mapping: &'a Dhis2Mapping, province: &str) -> Result<&'a str, ReportError> {
    mapping
        .org_units
        .get(province)
        .map(String::as_str)
        .ok_or_else(|| ReportError::Usage(format!("dhis2.toml has no org unit for province {province:?}")))
}

/// The dataValueSets document.
pub fn data_value_set(
    mapping: &Dhis2Mapping,
    period: &Period,
    values: &[Value],
) -> Result<serde_json::Value, ReportError> {
    let (dhis2_period, _) = periods(period)?;
    let mut rows = Vec::new();
    for v in values {
        rows.push(serde_json::json!({
            "dataElement": mapping.data_elements[&v.kpi],
            "period": dhis2_period,
            "orgUnit": org_unit(mapping, &v.province)?,
            "categoryOptionCombo": mapping.category_option_combo,
            "attributeOptionCombo": mapping.attribute_option_combo,
            "value": v.value,
        }));
    }
    Ok(serde_json::json!({ "dataSet": mapping.data_set, "dataValues": rows }))
}

/// The ADX document: one group per province.
pub fn adx(
    mapping: &Dhis2Mapping,
    period: &Period,
    values: &[Value],
    exported: chrono::DateTime<chrono::Utc>,
) -> Result<String, ReportError> {
    let (_, adx_period) = periods(period)?;
    let mut by_province: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for v in values {
        by_province.entry(&v.province).or_default().push(v);
    }
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(quick_xml::events::Event::Decl(quick_xml::events::BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let exported = exported.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let groups: Vec<(&str, Vec<&Value>)> =
        by_province.into_iter().map(|(p, v)| Ok((org_unit(mapping, p)?, v))).collect::<Result<_, ReportError>>()?;
    w.create_element("adx")
        .with_attribute(("xmlns", ADX_NAMESPACE))
        .with_attribute(("exported", exported.as_str()))
        .write_inner_content(|w| {
            for (unit, vs) in &groups {
                w.create_element("group")
                    .with_attribute(("orgUnit", *unit))
                    .with_attribute(("period", adx_period.as_str()))
                    .with_attribute(("dataSet", mapping.data_set.as_str()))
                    .write_inner_content(|w| {
                        for v in vs {
                            w.create_element("dataValue")
                                .with_attribute(("dataElement", mapping.data_elements[&v.kpi].as_str()))
                                .with_attribute(("value", v.value.as_str()))
                                .write_empty()?;
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        })?;
    let mut text = String::from_utf8(w.into_inner()).expect("the writer writes UTF-8");
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_in_both_notations() {
        let p = |s: &str| periods(&s.parse().unwrap()).unwrap();
        assert_eq!(p("2024-07-15"), ("20240715".into(), "2024-07-15/P1D".into()));
        assert_eq!(p("2024-W27"), ("2024W27".into(), "2024-07-01/P7D".into()));
        assert_eq!(p("2024-07"), ("202407".into(), "2024-07-01/P1M".into()));
        assert_eq!(p("2024-Q3"), ("2024Q3".into(), "2024-07-01/P3M".into()));
        assert_eq!(p("2024"), ("2024".into(), "2024-01-01/P1Y".into()));
        assert_eq!(p("FY2025"), ("2024Oct".into(), "2024-10-01/P1Y".into()));
        assert!(periods(&"2024-01-01..2024-02-03".parse().unwrap()).is_err());
    }

    #[test]
    fn the_built_in_mapping_parses_and_bad_ids_are_all_named() {
        let m = Dhis2Mapping::default();
        assert_eq!(m.org_units.len(), 34);
        let bad = BUILT_IN.replace("\"BsAccReg001\"", "\"1bad\"").replace("\"BsOuProv010\"", "\"toolongid0000\"");
        let e = Dhis2Mapping::parse(&bad).unwrap_err();
        assert!(e.contains("accounts_registered") && e.contains("\"01\""), "{e}");
    }
}
