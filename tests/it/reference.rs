//! The reference data: the built-in copy is valid, and a broken copy is reported
//! whole, every problem with its file and line.

use homedoc::domain::{BoundarySet, ProvinceCode, ProvinceKey};
use homedoc::reference::Reference;

#[test]
fn the_built_in_reference_data_is_consistent() {
    let r = Reference::embedded().expect("built-in reference data is valid");
    assert_eq!(r.provinces_63.len(), 63);
    assert_eq!(r.provinces_34.len(), 34);
    assert_eq!(r.provinces_63.iter().map(|p| p.population_2019).sum::<u64>(), 96_208_984);
    assert_eq!(r.provinces_63.iter().map(|p| p.communes).sum::<u32>(), 10_035);
    assert_eq!(r.provinces_34.iter().map(|p| p.communes).sum::<u32>(), 3_321);
    let code = |s| ProvinceCode::parse(s).unwrap();
    // Old Hà Giang is in new Tuyên Quang; code 15 means Yên Bái before and Lào Cai after.
    assert_eq!(r.crosswalk.new_of(code("02")), Some(code("08")));
    assert_eq!(r.province(ProvinceKey { set: BoundarySet::P63, code: code("15") }).unwrap().name_vi, "Yên Bái");
    assert_eq!(r.province(ProvinceKey { set: BoundarySet::P34, code: code("15") }).unwrap().name_vi, "Lào Cai");
    let approx: Vec<_> = r.provinces_63.iter().filter(|p| p.population_approximate).map(|p| p.slug.as_str()).collect();
    assert_eq!(approx, ["phu_yen"]);
    let all17 = r.project("kofih-usaid-17-provinces").unwrap();
    assert_eq!(all17.provinces.len(), 17);
}

#[test]
fn every_problem_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples/reference");
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    assert!(Reference::load(Some(dir.path())).is_ok(), "the copy is valid before it is broken");
    let edit = |file: &str, from: &str, to: &str| {
        let path = dir.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} contains {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "provinces_63.csv",
        "02,Hà Giang,ha_giang,Northern Midlands and Mountains,854679",
        "02,Hà Giang,ha_giang,Northern Midlands and Mountains,85467x",
    );
    edit("targets.csv", "province,63:02", "province,63:03");
    edit("rollout.csv", "46,program,2022-11-01,8", "46,program,2022-11-01,80");
    edit("projects.toml", "end = \"2022-10-31\"", "end = \"2019-10-31\"");
    let err = Reference::load(Some(dir.path())).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("provinces_63.csv:3: column 5"), "{text}");
    assert!(text.contains("targets.csv:12: scope_id"), "{text}");
    assert!(text.contains("rollout.csv:5: rollout_months"), "{text}");
    assert!(text.contains("undp-pilot: end 2019-10-31 is before start"), "{text}");
    // The unparseable Hà Giang row also breaks the crosswalk check of Tuyên Quang.
    assert!(err.0.len() >= 4, "{text}");
}
