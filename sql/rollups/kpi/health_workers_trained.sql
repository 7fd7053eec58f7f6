-- Distinct health workers trained from the rollups: the union of each day's exact
-- set of workers, never an estimate.
SELECT c.period, u.unit, 'all' AS grp, count(DISTINCT r.staff_code) AS numerator, NULL AS denominator
FROM training_daily r
JOIN units u ON u.facility = r.facility
JOIN calendar c ON c.day = r.day
GROUP BY 1, 2, 3
