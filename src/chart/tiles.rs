//! The tile grid of the 34 provinces: one square per province, placed by hand so
//! that neighbours stay roughly neighbours (the north's wide band, the long coast,
//! the Mekong delta), with a short label. No map data is needed, and every
//! province gets the same area whatever its size, which suits a per-capita KPI.

/// (34-set code, row, column, label).
pub const TILES: [(&str, u32, u32, &str); 34] = [
    ("12", 0, 1, "LCh"),
    ("15", 0, 2, "LCa"),
    ("08", 0, 3, "TQ"),
    ("04", 0, 4, "CB"),
    ("11", 1, 0, "ĐB"),
    ("14", 1, 1, "SL"),
    ("25", 1, 2, "PT"),
    ("19", 1, 3, "TN"),
    ("20", 1, 4, "LS"),
    ("01", 2, 2, "HN"),
    ("24", 2, 3, "BN"),
    ("22", 2, 4, "QNi"),
    ("37", 3, 2, "NB"),
    ("33", 3, 3, "HY"),
    ("31", 3, 4, "HP"),
    ("38", 4, 2, "TH"),
    ("40", 5, 2, "NA"),
    ("42", 6, 3, "HT"),
    ("44", 7, 3, "QT"),
    ("46", 8, 4, "Huế"),
    ("48", 9, 4, "ĐN"),
    ("51", 10, 4, "QNg"),
    ("52", 11, 4, "GL"),
    ("66", 12, 4, "ĐL"),
    ("68", 13, 3, "LĐ"),
    ("56", 13, 4, "KH"),
    ("80", 14, 1, "TNi"),
    ("79", 14, 2, "HCM"),
    ("75", 14, 3, "ĐNa"),
    ("91", 15, 0, "AG"),
    ("82", 15, 1, "ĐT"),
    ("86", 15, 2, "VL"),
    ("96", 16, 0, "CM"),
    ("92", 16, 1, "CT"),
];

pub const TILE: u32 = 46;
const GAP: u32 = 4;
/// Left of the grid: the legend sits to the right of the map.
pub const LEFT: u32 = 16;
pub const TOP: u32 = 40;
pub const LEGEND_X: u32 = LEFT + 6 * (TILE + GAP) + 30;

/// The tile's top-left corner in pixels.
pub fn origin(row: u32, col: u32) -> (i32, i32) {
    ((LEFT + col * (TILE + GAP)) as i32, (TOP + row * (TILE + GAP)) as i32)
}

pub fn size() -> (u32, u32) {
    (640, TOP + 17 * (TILE + GAP) + 16)
}

/// Five classes cut at the quintiles of the values (equal-count classes keep the
/// map readable when one province dwarfs the rest), as (lower bound, upper bound).
pub fn classes(values: &[f64]) -> Vec<(f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return Vec::new();
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let mut cuts: Vec<f64> = (0..=5).map(|i| at(i as f64 / 5.0)).collect();
    cuts.dedup();
    if cuts.len() == 1 {
        return vec![(cuts[0], cuts[0])];
    }
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

/// The class of a value (the last class whose lower bound it reaches).
pub fn class_of(classes: &[(f64, f64)], v: f64) -> usize {
    classes.iter().rposition(|(lo, _)| v >= *lo).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_province_has_one_free_tile() {
        let mut codes: Vec<&str> = TILES.iter().map(|t| t.0).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), 34);
        let mut cells: Vec<(u32, u32)> = TILES.iter().map(|t| (t.1, t.2)).collect();
        cells.sort();
        cells.dedup();
        assert_eq!(cells.len(), 34, "two provinces on one tile");
        assert!(TILES.iter().all(|t| t.2 < 6 && t.1 < 17));
        let mut labels: Vec<&str> = TILES.iter().map(|t| t.3).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), 34, "two provinces with one label");
    }

    #[test]
    fn classes_split_at_quintiles_and_cover_every_value() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        let c = classes(&values);
        assert_eq!(c.len(), 5);
        assert_eq!(c[0].0, 1.0);
        assert_eq!(c[4].1, 10.0);
        assert_eq!(class_of(&c, 1.0), 0);
        assert_eq!(class_of(&c, 10.0), 4);
        assert_eq!(classes(&[3.0, 3.0]), vec![(3.0, 3.0)]);
        assert!(classes(&[]).is_empty());
    }
}
