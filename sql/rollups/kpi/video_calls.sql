-- Video calls from the rollups: the sum of calls over the days of each period.
SELECT c.period, u.unit, r.grp, sum(r.calls) AS numerator, NULL AS denominator
FROM video_call_daily r
JOIN units u ON u.facility = r.facility
JOIN calendar c ON c.day = r.day
WHERE r.dim = $grp
GROUP BY 1, 2, 3
HAVING sum(r.calls) > 0
