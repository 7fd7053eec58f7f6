-- No-show rate from the rollups: no-shows among appointments fulfilled or no-shows,
-- by slot day.
SELECT c.period, u.unit, r.grp, sum(r.noshow) AS numerator, sum(r.fulfilled) + sum(r.noshow) AS denominator
FROM appointment_daily r
JOIN units u ON u.facility = r.facility
JOIN calendar c ON c.day = r.day
WHERE r.dim = $grp
GROUP BY 1, 2, 3
HAVING sum(r.fulfilled) + sum(r.noshow) > 0
