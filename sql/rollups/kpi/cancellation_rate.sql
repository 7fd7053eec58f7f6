-- Cancellation rate from the rollups: cancelled among new bookings, by booking day.
SELECT r.period, u.unit, r.grp, sum(r.cancelled) AS numerator, sum(r.booked) AS denominator
FROM appointment_in_period r
JOIN units u ON u.facility = r.facility
WHERE r.dim = $grp
GROUP BY 1, 2, 3
HAVING sum(r.booked) > 0
