-- Appointments completed from the rollups: the sum of fulfilled over the days of each period.
SELECT r.period, u.unit, r.grp, sum(r.fulfilled) AS numerator, NULL AS denominator
FROM appointment_in_period r
JOIN units u ON u.facility = r.facility
WHERE r.dim = $grp
GROUP BY 1, 2, 3
HAVING sum(r.fulfilled) > 0
