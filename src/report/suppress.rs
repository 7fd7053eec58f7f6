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
//!
//! Where a grid's margins are published elsewhere (a KPI by station beside the
//! province's own figure, which another request returns), [`Margins::Published`]
//! keeps every margin that sums two or more cells out of the hidden set: hiding it in
//! one table would protect nothing.

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

    /// Whether a cell is a margin that sums two or more cells (a row total of a
    /// one-column grid is only a copy of its cell).
    fn is_sum(&self, (r, c): Cell) -> bool {
        let (rows, cols) = (self.rows(), self.cols());
        match (r == rows, c == cols) {
            (false, false) => false,
            (false, true) => cols >= 2,
            (true, false) => rows >= 2,
            (true, true) => rows >= 2 || cols >= 2,
        }
    }
}

/// Where a grid's margins are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Margins {
    /// In the same table: a margin may be hidden like any cell.
    InTable,
    /// Elsewhere, whatever this table does: a margin is never hidden.
    Published,
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
    let unknown = hidden_cells(grid, hidden);
    audit_of(grid, hidden, &unknown)
}

fn hidden_cells(grid: &Grid, hidden: &[Vec<bool>]) -> Vec<Cell> {
    let cells = (0..=grid.rows()).flat_map(|r| (0..=grid.cols()).map(move |c| (r, c)));
    cells.filter(|&(r, c)| hidden[r][c]).collect()
}

/// A lower bound of a hidden inner cell's range with no linear program: the widest
/// rectangle of hidden inner cells through it. Moving an amount round a rectangle
/// (+ - + -) keeps every line's sum, so the cell can fall by the least of itself and
/// its opposite corner, and rise by the least of the other two corners.
fn rectangle_width(grid: &Grid, hidden: &[Vec<bool>], (r, c): Cell) -> f64 {
    let (rows, cols) = (grid.rows(), grid.cols());
    let mut best = 0.0_f64;
    for c2 in (0..cols).filter(|&c2| c2 != c && hidden[r][c2]) {
        for r2 in (0..rows).filter(|&r2| r2 != r && hidden[r2][c] && hidden[r2][c2]) {
            let down = grid.get((r, c)).min(grid.get((r2, c2)));
            let up = grid.get((r, c2)).min(grid.get((r2, c)));
            best = best.max(down + up);
        }
    }
    best
}

/// The least and greatest value of a hidden cell, found as flows. A table with its
/// margins is a circulation: each row total flows from a row source to its row, each
/// inner cell from its row to its column, each column total from its column to a
/// column sink, and the grand total from the sink back to the source. A hidden cell
/// can rise by as much as can flow back round from its head to its tail through the
/// other hidden cells (each may rise without bound, or fall to zero), and fall by as
/// much as can flow from its tail to its head; published cells stay put. This is the
/// linear program of [`audit`] on a network matrix, answered by max-flow in a fraction
/// of its time, which long station tables need.
fn flow_range(grid: &Grid, hidden: &[Vec<bool>], target: Cell) -> (f64, f64) {
    use petgraph::algo::dinics;
    use petgraph::graph::{DiGraph, NodeIndex};
    let (rows, cols) = (grid.rows(), grid.cols());
    let (source, sink) = (rows + cols, rows + cols + 1);
    let ends = |(r, c): Cell| match (r == rows, c == cols) {
        (false, false) => (r, rows + c),
        (false, true) => (source, r),
        (true, false) => (rows + c, sink),
        (true, true) => (sink, source),
    };
    // Counts are whole; a flow of `unbounded` or more went round published nothing.
    let amount = |cell: Cell| grid.get(cell).max(0.0).round() as u64;
    let others: Vec<Cell> = hidden_cells(grid, hidden).into_iter().filter(|&x| x != target).collect();
    let unbounded = others.iter().map(|&x| amount(x)).sum::<u64>() + 1;
    let max_flow = |from: usize, to: usize| -> u64 {
        let mut g = DiGraph::<(), u64>::with_capacity(rows + cols + 2, 2 * others.len());
        for _ in 0..rows + cols + 2 {
            g.add_node(());
        }
        for &x in &others {
            let (u, v) = ends(x);
            g.add_edge(NodeIndex::new(u), NodeIndex::new(v), unbounded);
            if amount(x) > 0 {
                g.add_edge(NodeIndex::new(v), NodeIndex::new(u), amount(x));
            }
        }
        dinics(&g, NodeIndex::new(from), NodeIndex::new(to)).0
    };
    let (tail, head) = ends(target);
    let value = amount(target);
    let up = max_flow(head, tail);
    let down = max_flow(tail, head).min(value);
    let hi = if up >= unbounded { f64::INFINITY } else { (value + up) as f64 };
    ((value - down) as f64, hi)
}

/// The least and greatest value of each of `targets` (hidden cells) given the
/// published cells.
fn audit_of(grid: &Grid, hidden: &[Vec<bool>], targets: &[Cell]) -> Vec<(Cell, f64, f64)> {
    let unknown = hidden_cells(grid, hidden);
    let mut out = Vec::new();
    for &target in targets {
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
    suppress_with(grid, k, Margins::InTable)
}

/// [`suppress`], with the margins where `margins` says they are published. A
/// published margin bounds the cells it sums, so a line whose published total is k
/// or less cannot be protected beyond it: the audit then reports a range of k or less.
pub fn suppress_with(grid: &Grid, k: u32, margins: Margins) -> Suppression {
    let (rows, cols) = (grid.rows(), grid.cols());
    let fixed = |cell: Cell| margins == Margins::Published && grid.is_sum(cell);
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
        line.iter().copied().filter(|&(r, c)| !hidden[r][c] && (r, c) != avoid && !fixed((r, c))).min_by(|&a, &b| {
            let key = |x: Cell| (x.0 == rows || x.1 == cols, grid.get(x) == 0.0, grid.get(x));
            let (ka, kb) = (key(a), key(b));
            ka.0.cmp(&kb.0).then(ka.1.cmp(&kb.1)).then(ka.2.total_cmp(&kb.2))
        })
    };
    let mut narrowest = f64::INFINITY;
    // With published margins: the cells shown safe so far, and the least of their ranges.
    let mut safe = vec![vec![false; cols + 1]; rows + 1];
    let mut certified = f64::INFINITY;
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
        if rows == 1 || cols == 1 {
            // One line of cells and its total: the hidden cells can be anything that
            // adds up to their sum, so that sum is every hidden cell's range; no
            // linear program is needed (a province's stations make long lines).
            let line = if cols == 1 { &lines[rows + 1] } else { &lines[0] };
            let (total, cells) = line.split_last().expect("a line has a total");
            let hidden_sum: f64 = cells.iter().filter(|&&(r, c)| hidden[r][c]).map(|&x| grid.get(x)).sum();
            let any = cells.iter().any(|&(r, c)| hidden[r][c]);
            narrowest = match (any, hidden[total.0][total.1]) {
                (false, _) | (true, true) => f64::INFINITY,
                (true, false) => hidden_sum,
            };
            if narrowest > f64::from(k) {
                break;
            }
            match partner(&hidden, cells, *total) {
                Some((r, c)) => hidden[r][c] = true,
                None => break,
            }
            continue;
        }
        // No line gives a cell away alone; the audit finds what combinations do.
        // With the margins fixed (long station tables, many hidden cells) a cell that
        // a rectangle of hidden cells already protects needs no linear program; the
        // narrowest range is then a lower bound.
        let ranges = if margins == Margins::Published {
            // Hiding more never narrows a range, so a cell once shown safe stays so;
            // the first cell found unsafe gets its partner this round.
            let mut unsafe_cell = Vec::new();
            for cell in hidden_cells(grid, &hidden) {
                if safe[cell.0][cell.1] {
                    continue;
                }
                let inner = cell.0 < rows && cell.1 < cols;
                let width = match inner.then(|| rectangle_width(grid, &hidden, cell)).filter(|w| *w > f64::from(k)) {
                    Some(w) => w,
                    None => {
                        let (lo, hi) = flow_range(grid, &hidden, cell);
                        if hi - lo <= f64::from(k) {
                            unsafe_cell.push((cell, lo, hi));
                            break;
                        }
                        hi - lo
                    }
                };
                safe[cell.0][cell.1] = true;
                certified = certified.min(width);
            }
            unsafe_cell
        } else {
            audit(grid, &hidden)
        };
        narrowest = ranges.iter().map(|(_, lo, hi)| hi - lo).fold(certified, f64::min);
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
    fn a_rectangle_of_hidden_cells_bounds_a_range_from_below() {
        let g = Grid::from_cells(vec![vec![3.0, 40.0, 22.0], vec![30.0, 60.0, 2.0], vec![25.0, 35.0, 45.0]]);
        let mut hidden = vec![vec![false; 4]; 4];
        for (r, c) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            hidden[r][c] = true;
        }
        // It can fall by min(3, 60) and rise by min(40, 30); the margins pin the rest.
        assert_eq!(rectangle_width(&g, &hidden, (0, 0)), 33.0);
        let ranges = audit(&g, &hidden);
        let &(_, lo, hi) = ranges.iter().find(|(cell, _, _)| *cell == (0, 0)).unwrap();
        assert!((lo - 0.0).abs() < 1e-6 && (hi - 33.0).abs() < 1e-6, "[{lo}, {hi}]");
        hidden[1][1] = false;
        assert_eq!(rectangle_width(&g, &hidden, (0, 0)), 0.0, "no rectangle, no bound");
    }

    #[test]
    fn published_margins_stay_shown_and_one_line_needs_a_hidden_sum_above_k() {
        let g = Grid::from_cells(vec![vec![2.0], vec![2.0], vec![2.0], vec![40.0]]);
        let s = suppress_with(&g, 5, Margins::Published);
        assert!(!s.is_hidden((4, 0)), "the total is published elsewhere");
        // 2 + 2 + 2 > 5: the three small ones protect each other.
        assert_eq!((0..4).map(|r| s.is_hidden((r, 0))).collect::<Vec<_>>(), [true, true, true, false]);
        assert_eq!(s.narrowest, 6.0);
        let one = Grid::from_cells(vec![vec![3.0], vec![9.0], vec![40.0]]);
        let s = suppress_with(&one, 5, Margins::Published);
        assert_eq!((0..3).map(|r| s.is_hidden((r, 0))).collect::<Vec<_>>(), [true, true, false]);
        for (_, lo, hi) in audit(&one, &s.hidden) {
            assert!(hi - lo > 5.0, "[{lo}, {hi}]");
        }
    }

    #[test]
    fn flows_find_the_same_ranges_as_the_linear_programs() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for round in 0..60 {
            let (rows, cols) = (rng.random_range(1..6), rng.random_range(1..5));
            let cells = (0..rows)
                .map(|_| {
                    (0..cols).map(|_| if rng.random_bool(0.2) { 0.0 } else { rng.random_range(1..30) as f64 }).collect()
                })
                .collect();
            let g = Grid::from_cells(cells);
            let hidden: Vec<Vec<bool>> =
                (0..=rows).map(|_| (0..=cols).map(|_| rng.random_bool(0.4)).collect()).collect();
            for (cell, lo, hi) in audit(&g, &hidden) {
                let (flo, fhi) = flow_range(&g, &hidden, cell);
                let same = |a: f64, b: f64| (a.is_infinite() && b > 1e6) || (a - b).abs() < 1e-6;
                assert!(
                    same(flo, lo) && same(fhi, hi),
                    "round {round}, {cell:?}: flows [{flo}, {fhi}], LP [{lo}, {hi}]"
                );
            }
        }
    }

    #[test]
    fn a_long_grouped_table_with_fixed_margins_is_suppressed_quickly_and_passes_the_audit() {
        // 300 stations by 3 purposes, most of them small: the shape of a province's
        // calls by purpose in a month.
        let cells: Vec<Vec<f64>> = (0..300).map(|i| (0..3).map(|j| ((i * 7 + j * 3) % 11) as f64).collect()).collect();
        let g = Grid::from_cells(cells);
        let started = std::time::Instant::now();
        let s = suppress_with(&g, 5, Margins::Published);
        let elapsed = started.elapsed();
        assert!(s.narrowest > 5.0, "{}", s.narrowest);
        for r in 0..=300 {
            assert!(!s.is_hidden((r, 3)) || is_small(g.values[r][3], 5), "a published row total hidden");
        }
        // The audit by linear programs on a sample of the hidden cells (all of them
        // would take minutes, which is why suppression uses flows).
        let hidden: Vec<Cell> = hidden_cells(&g, &s.hidden);
        let sample: Vec<Cell> = hidden.iter().copied().step_by(hidden.len() / 12 + 1).collect();
        for (cell, lo, hi) in audit_of(&g, &s.hidden, &sample) {
            assert!(hi - lo > 5.0, "{cell:?} in [{lo}, {hi}]");
        }
        eprintln!("300 x 3, {} hidden, suppressed in {elapsed:?}", hidden.len());
    }

    #[test]
    fn zeros_and_large_counts_stay_published() {
        let g = Grid::from_cells(vec![vec![0.0, 40.0], vec![30.0, 60.0]]);
        let s = suppress(&g, 10);
        assert_eq!(hidden_count(&s), 0);
        assert!(s.narrowest.is_infinite());
    }
}
