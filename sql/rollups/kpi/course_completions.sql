-- Course completions from the rollups.
SELECT r.period, u.unit, 'all' AS grp, sum(r.completions) AS numerator, NULL AS denominator
FROM training_in_period r
JOIN units u ON u.facility = r.facility
GROUP BY 1, 2, 3
