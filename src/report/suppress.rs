//! Small-cell suppression for donor outputs.
//!
//! A table of counts is published with its margins (each row's total and each
//! column's total, and the grand total), so hiding a small count is not enough: with
//! one hidden cell in a row, the row total gives it away. [`suppress`] hides every
//! count from 1 to k-1 (primary suppression), then hides more cells until no cell can
//! be worked out from the published ones (complementary suppression), checked by
//! [`audit`]: for each hidden cell, two linear programs find the least and the
//! greatest value it can take given everything published (the margins hold, counts
//! are not negative), and that range must be wider than k.

use microlp::{ComparisonOp, OptimizationDirection, Problem};

/// Counts with margins: `values[r][c]` for `r < rows` and `c < cols` are the cells,
/// `values[r][cols]` the row totals, `values[rows][c]` the column totals and
/// `values[rows][cols]` the grand total.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub values: Vec<Vec<f64>>,
}

pub type Cell = (usize, usize);

impl Grid {
    /// A grid from its inner cells; the margins are summed.
    pub fn from_cells(cells: Vec<Vec<f64>>) -> Self {
        let cols = cells.first().map_or(0, Vec::len);
        let mut values: Vec<Vec<f64>> = cells
            .into_iter()
            .map(|mut r| {
                r.push(r.iter().sum());
                r
            })
            .collect();
        let totals = (0..=cols).map(|c| values.iter().map(|r| r[c]).sum()).collect();
        values.push(totals);
        Grid { values }
    }

    fn rows(&self) -> usize {
        self.values.len() - 1
    }

    fn cols(&self) -> usize {
        self.values[0].len() - 1
    }

    /// Every additive line: the cells of a row or column followed by its total.
    fn lines(&self) -> Vec<Vec<Cell>> {
        let (rows, cols) = (self.rows(), self.cols());
        let mut lines = Vec::new();
        for r in 0..=rows {
            lines.push((0..=cols).map(|c| (r, c)).collect());
        }
        for c in 0..=cols {
            lines.push((0..=rows).map(|r| (r, c)).collect());
        }
        lines
    }

    fn get(&self, (r, c): Cell) -> f64 {
        self.values[r][c]
    }
}

/// Which cells are hidden, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Suppression {
    pub hidden: Vec<Vec<bool>>,
    pub primary: usize,
    pub complementary: usize,
    /// The narrowest feasible range of a hidden cell (infinite when none is hidden).
    pub narrowest: f64,
}

impl Suppression {
    pub fn is_hidden(&self, (r, c): Cell) -> bool {
        self.hidden[r][c]
    }
}

/// Whether a count is small enough to hide on its own.
pub fn is_small(v: f64, k: u32) -> bool {
    v >= 1.0 && v < f64::from(k)
}

/// The least and greatest value of each hidden cell given the published ones.
pub fn audit(grid: &Grid, hidden: &[Vec<bool>]) -> Vec<(Cell, f64, f64)> {
    let cells: Vec<Cell> = (0..=grid.rows()).flat_map(|r| (0..=grid.cols()).map(move |c| (r, c))).collect();
    let unknown: Vec<Cell> = cells.into_iter().filter(|&(r, c)| hidden[r][c]).collect();
    let mut out = Vec::new();
    for &target in &unknown {
        let mut bounds = [0.0; 2];
        for (i, direction) in [OptimizationDirection::Minimize, OptimizationDirection::Maximize].into_iter().enumerate()
        {
            let mut p = Problem::new(direction);
            let vars: Vec<_> =
                unknown.iter().map(|&u| p.add_var(if u == target { 1.0 } else { 0.0 }, (0.0, f64::INFINITY))).collect();
            let var = |cell: Cell| unknown.iter().position(|&u| u == cell).map(|i| vars[i]);
            for line in grid.lines() {
                let (total, parts) = line.split_last().expect("a line has a total");
                if !line.iter().any(|&(r, c)| hidden[r][c]) {
                    continue;
                }
                // parts - total = 0, the known ones moved to the right-hand side.
                let mut expr = Vec::new();
                let mut rhs = 0.0;
                for (&cell, sign) in parts.iter().map(|c| (c, 1.0)).chain(std::iter::once((total, -1.0))) {
                    match var(cell) {
                        Some(v) => expr.push((v, sign)),
                        None => rhs -= sign * grid.get(cell),
                    }
                }
                p.add_constraint(expr.as_slice(), ComparisonOp::Eq, rhs);
            }
            bounds[i] = match p.solve().ok().and_then(|s| s.into_solution().ok()) {
                Some(s) => s.objective(),
                // Unbounded above cannot happen (every cell is in a line with a
                // published or bounded total), but treat it as fully hidden.
                None if i == 1 => f64::INFINITY,
                None => 0.0,
            };
        }
        out.push((target, bounds[0], bounds[1]));
    }
    out
}

/// Hides the small counts of `grid` and enough others that every hidden cell's
/// feasible range is wider than `k`.
pub fn suppress(grid: &Grid, k: u32) -> Suppression {
    let (rows, cols) = (grid.rows(), grid.cols());
    let mut hidden = vec![vec![false; cols + 1]; rows + 1];
    let mut primary = 0;
    for (r, row) in grid.values.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if is_small(*v, k) {
                hidden[r][c] = true;
                primary += 1;
            }
        }
    }
    let lines = grid.lines();
    // The cheapest cell to hide beside `cell` in one of its lines: the smallest
    // published count, inner cells before totals.
    let partner = |hidden: &[Vec<bool>], line: &[Cell], avoid: Cell| -> Option<Cell> {
        line.iter().copied().filter(|&(r, c)| !hidden[r][c] && (r, c) != avoid).min_by(|&a, &b| {
            let key = |x: Cell| (x.0 == rows || x.1 == cols, grid.get(x) == 0.0, grid.get(x));
            let (ka, kb) = (key(a), key(b));
            ka.0.cmp(&kb.0).then(ka.1.cmp(&kb.1)).then(ka.2.total_cmp(&kb.2))
        })
    };
    let mut narrowest = f64::INFINITY;
    // Each round either hides one more cell or ends; a grid has finitely many.
    for _ in 0..=(rows + 1) * (cols + 1) {
        // A line with exactly one hidden cell gives it away: hide a partner.
        let lone = lines.iter().find_map(|line| {
            let h: Vec<Cell> = line.iter().copied().filter(|&(r, c)| hidden[r][c]).collect();
            (h.len() == 1).then(|| partner(&hidden, line, h[0])).flatten()
        });
        if let Some((r, c)) = lone {
            hidden[r][c] = true;
            continue;
        }
        // No line gives a cell away alone; the audit finds what combinations do.
        let ranges = audit(grid, &hidden);
        narrowest = ranges.iter().map(|(_, lo, hi)| hi - lo).fold(f64::INFINITY, f64::min);
        let Some(&((r, c), _, _)) = ranges.iter().find(|(_, lo, hi)| hi - lo <= f64::from(k)) else { break };
        let more = lines.iter().filter(|l| l.contains(&(r, c))).find_map(|l| partner(&hidden, l, (r, c)));
        match more {
            Some((r, c)) => hidden[r][c] = true,
            None => break,
        }
    }
    let total = hidden.iter().flatten().filter(|h| **h).count();
    Suppression { hidden, primary, complementary: total - primary, narrowest }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hidden_count(s: &Suppression) -> usize {
        s.hidden.iter().flatten().filter(|h| **h).count()
    }

    #[test]
    fn a_lone_small_cell_gets_partners_in_its_row_and_column() {
        // 3 is small; its row and column totals would give it away.
        let g = Grid::from_cells(vec![vec![3.0, 40.0, 50.0], vec![30.0, 60.0, 70.0], vec![25.0, 35.0, 45.0]]);
        let s = suppress(&g, 10);
        assert_eq!(s.primary, 1);
        assert!(s.complementary >= 3, "a rectangle at least: {s:?}");
        for ((r, c), lo, hi) in audit(&g, &s.hidden) {
            assert!(hi - lo > 10.0, "cell ({r},{c}) lies in [{lo}, {hi}]");
            assert!(lo <= g.values[r][c] && g.values[r][c] <= hi);
        }
    }

    #[test]
    fn primary_suppression_alone_fails_the_audit() {
        let g = Grid::from_cells(vec![vec![3.0, 40.0], vec![30.0, 60.0]]);
        let mut hidden = vec![vec![false; 3]; 3];
        hidden[0][0] = true;
        let ranges = audit(&g, &hidden);
        assert_eq!(ranges.len(), 1);
        let (_, lo, hi) = ranges[0];
        assert!((lo - 3.0).abs() < 1e-6 && (hi - 3.0).abs() < 1e-6, "worked out exactly: [{lo}, {hi}]");
    }

    #[test]
    fn small_partners_are_widened_until_the_range_passes_k() {
        // Two small cells in a 2x2 pattern whose partners are small too: the range of
        // each is then at most 2 + 4, below k, so more cells go.
        let g = Grid::from_cells(vec![vec![2.0, 4.0, 90.0], vec![4.0, 2.0, 80.0], vec![50.0, 60.0, 70.0]]);
        let s = suppress(&g, 10);
        for (_, lo, hi) in audit(&g, &s.hidden) {
            assert!(hi - lo > 10.0, "[{lo}, {hi}] in {s:?}");
        }
        assert!(s.narrowest > 10.0);
        assert!(hidden_count(&s) > 4);
    }

    #[test]
    fn zeros_and_large_counts_stay_published() {
        let g = Grid::from_cells(vec![vec![0.0, 40.0], vec![30.0, 60.0]]);
        let s = suppress(&g, 10);
        assert_eq!(hidden_count(&s), 0);
        assert!(s.narrowest.is_infinite());
    }
}
