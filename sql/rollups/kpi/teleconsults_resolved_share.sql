-- Teleconsults resolved without referral from the rollups.
SELECT r.period, u.unit, 'all' AS grp, sum(r.teleconsults_resolved) AS numerator,
       sum(r.teleconsults_closed) AS denominator
FROM video_call_in_period r
JOIN units u ON u.facility = r.facility
WHERE r.dim = 'all'
GROUP BY 1, 2, 3
HAVING sum(r.teleconsults_closed) > 0
