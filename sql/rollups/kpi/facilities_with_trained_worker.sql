-- Facilities with at least one course completion in the period, from the rollups.
SELECT c.period, u.unit, 'all' AS grp, count(DISTINCT r.facility) AS numerator, NULL AS denominator
FROM training_daily r
JOIN units u ON u.facility = r.facility
JOIN calendar c ON c.day = r.day
GROUP BY 1, 2, 3
