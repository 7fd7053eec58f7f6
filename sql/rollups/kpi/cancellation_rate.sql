-- Cancellation rate from the rollups: cancelled among new bookings, by booking day.
SELECT c.period, u.unit, r.grp, sum(r.cancelled) AS numerator, sum(r.booked) AS denominator
FROM appointment_daily r
JOIN units u ON u.facility = r.facility
JOIN calendar c ON c.day = r.day
WHERE r.dim = $grp
GROUP BY 1, 2, 3
HAVING sum(r.booked) > 0
