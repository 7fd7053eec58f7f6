-- Distinct health workers trained from the rollups: the union of each day's exact
-- set of workers, never an estimate.
SELECT r.period, u.unit, 'all' AS grp, count(DISTINCT r.staff_code) AS numerator, NULL AS denominator
FROM training_in_period r
JOIN units u ON u.facility = r.facility
GROUP BY 1, 2, 3
