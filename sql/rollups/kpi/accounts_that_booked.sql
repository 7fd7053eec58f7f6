-- Accounts that have booked, from the rollups: an account counts from the later of
-- its creation and its first booking (`first_bookings` of `holder_daily`), at its
-- holder's home station and in their group, up to the end of each period.
SELECT r.period, u.unit, r.grp, sum(r.first_bookings) AS numerator, NULL AS denominator
FROM holder_to_date r
JOIN units u ON u.facility = r.facility
WHERE r.dim = $grp
GROUP BY 1, 2, 3
HAVING sum(r.first_bookings) > 0
