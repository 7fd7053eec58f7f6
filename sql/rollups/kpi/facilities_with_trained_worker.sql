-- Facilities with at least one course completion in the period, from the rollups.
SELECT r.period, u.unit, 'all' AS grp, count(DISTINCT r.facility) AS numerator, NULL AS denominator
FROM training_in_period r
JOIN units u ON u.facility = r.facility
GROUP BY 1, 2, 3
