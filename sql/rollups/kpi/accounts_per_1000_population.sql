-- Accounts per 1,000 catchment population from the rollups.
WITH accounts AS (
    SELECT r.period, u.unit, sum(r.created) AS n
    FROM account_to_date r
    JOIN units u ON u.facility = r.facility
    WHERE r.dim = 'all'
    GROUP BY 1, 2
), population AS (
    SELECT u.unit, sum(s.catchment_population) AS people
    FROM units u
    JOIN stations s ON s.station = u.facility
    GROUP BY 1
)
SELECT p.period, pop.unit, 'all' AS grp, coalesce(a.n, 0) AS numerator, pop.people AS denominator
FROM periods p
CROSS JOIN population pop
LEFT JOIN accounts a ON a.period = p.period AND a.unit = pop.unit
