-- No-show rate from the rollups: no-shows among appointments fulfilled or no-shows,
-- by slot day.
SELECT r.period, u.unit, r.grp, sum(r.noshow) AS numerator, sum(r.fulfilled) + sum(r.noshow) AS denominator
FROM appointment_in_period r
JOIN units u ON u.facility = r.facility
WHERE r.dim = $grp
GROUP BY 1, 2, 3
HAVING sum(r.fulfilled) + sum(r.noshow) > 0
