-- Video calls from the rollups: the sum of calls over the days of each period.
SELECT r.period, u.unit, r.grp, sum(r.calls) AS numerator, NULL AS denominator
FROM video_call_in_period r
JOIN units u ON u.facility = r.facility
WHERE r.dim = $grp
GROUP BY 1, 2, 3
HAVING sum(r.calls) > 0
