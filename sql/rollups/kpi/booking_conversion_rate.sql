-- Booking conversion rate from the rollups: accounts created up to the end of each
-- period (`account_to_date`) and, of those, the ones that have booked (an account
-- counts from the later of its creation and its first booking: `holder_to_date`),
-- both at the holder's home station and in their group.
WITH accounts AS (
    SELECT r.period, u.unit, r.grp, sum(r.created) AS n
    FROM account_to_date r
    JOIN units u ON u.facility = r.facility
    WHERE r.dim = $grp
    GROUP BY 1, 2, 3
), booked AS (
    SELECT r.period, u.unit, r.grp, sum(r.first_bookings) AS n
    FROM holder_to_date r
    JOIN units u ON u.facility = r.facility
    WHERE r.dim = $grp
    GROUP BY 1, 2, 3
)
SELECT a.period, a.unit, a.grp, coalesce(b.n, 0) AS numerator, a.n AS denominator
FROM accounts a
LEFT JOIN booked b ON b.period = a.period AND b.unit = a.unit AND b.grp = a.grp
