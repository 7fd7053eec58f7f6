-- Appointments completed from the rollups: the sum of fulfilled over the days of each period.
SELECT c.period, u.unit, r.grp, sum(r.fulfilled) AS numerator, NULL AS denominator
FROM appointment_daily r
JOIN units u ON u.facility = r.facility
JOIN calendar c ON c.day = r.day
WHERE r.dim = $grp
GROUP BY 1, 2, 3
HAVING sum(r.fulfilled) > 0
