-- Video call minutes from the rollups: minutes of ended calls over the days of each
-- period (a period with no ended call has no row, as in the raw query).
SELECT r.period, u.unit, r.grp, sum(r.minutes) AS numerator, NULL AS denominator
FROM video_call_in_period r
JOIN units u ON u.facility = r.facility
WHERE r.dim = $grp
GROUP BY 1, 2, 3
HAVING sum(r.ended) > 0
