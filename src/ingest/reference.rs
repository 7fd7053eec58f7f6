//! Reference data into the lake: each file becomes a dimension table, replaced whole
//! when the file changes, so that the Delta history keeps every earlier version (a
//! report made `--as-of` a snapshot sees the targets of that day).

use crate::lake::rows::{Rows, Val};
use crate::lake::schema::TableDef;
use crate::reference::{Reference, RolloutScale, TargetScope};

/// The rows of `table` from checked reference data.
pub fn rows(table: &'static TableDef, r: &Reference) -> Rows {
    let mut rows = Rows::new(table);
    match table.name {
        "provinces_63" => {
            for p in &r.provinces_63 {
                let code = p.key.code.to_string();
                let new = r.crosswalk.new_of(p.key.code).map(|c| c.to_string()).unwrap_or_default();
                let region = r.regions.get(&p.key.code).map(String::as_str).unwrap_or_default();
                rows.push(&[
                    Val::Str(&code),
                    Val::Str(&p.name_vi),
                    Val::Str(&p.slug),
                    Val::Str(region),
                    Val::I64(p.population_2019 as i64),
                    Val::Bool(p.population_approximate),
                    Val::I64(i64::from(p.communes)),
                    Val::Str(&new),
                ]);
            }
        }
        "provinces_34" => {
            for p in &r.provinces_34 {
                let code = p.key.code.to_string();
                let olds: Vec<String> = r.crosswalk.olds_of(p.key.code).map(|c| c.to_string()).collect();
                let olds = olds.join(" ");
                rows.push(&[
                    Val::Str(&code),
                    Val::Str(&p.name_vi),
                    Val::Str(&p.slug),
                    Val::Str(&olds),
                    Val::I64(p.population_2019 as i64),
                    Val::Bool(p.population_approximate),
                    Val::I64(i64::from(p.communes)),
                ]);
            }
        }
        "phases" => {
            for p in &r.rollout {
                let code = p.province_63.to_string();
                let scale = match p.scale {
                    RolloutScale::Program => "program",
                    RolloutScale::National => "national",
                };
                rows.push(&[
                    Val::Str(&code),
                    Val::Str(scale),
                    Val::Date(p.start),
                    Val::I64(i64::from(p.rollout_months)),
                    Val::Str(&p.basis),
                ]);
            }
        }
        "targets" => {
            for t in &r.targets {
                let scope = match t.scope {
                    TargetScope::National => "national",
                    TargetScope::Project => "project",
                    TargetScope::Province => "province",
                };
                rows.push(&[
                    Val::Str(&t.indicator),
                    Val::Str(scope),
                    Val::Str(&t.scope_id),
                    Val::F64(t.baseline),
                    Val::Date(t.baseline_date),
                    Val::F64(t.target),
                    Val::Date(t.target_date),
                    Val::Str(&t.note),
                ]);
            }
        }
        "projects" => {
            for p in &r.projects {
                let donors = p.donors.join(",");
                for province in &p.provinces {
                    let code = province.to_string();
                    rows.push(&[
                        Val::Str(&p.id),
                        Val::Str(&code),
                        Val::Str(&p.name_en),
                        Val::Str(&p.name_vi),
                        Val::Str(&donors),
                        Val::opt_i64(p.budget_usd.map(|b| b as i64)),
                        Val::Date(p.start),
                        Val::Date(p.end),
                        Val::Str(&p.dates_basis),
                    ]);
                }
            }
        }
        other => unreachable!("{other} is not a reference table (checked when the pipeline was loaded)"),
    }
    rows
}
