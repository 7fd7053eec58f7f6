-- Bookings per 1,000 accounts from the rollups: the period's new bookings by station
-- and group (`appointment_in_period`, as `appointments_booked` reads them) over the
-- accounts created up to the end of each period by home station and group
-- (`account_to_date`).
WITH accounts AS (
    SELECT r.period, u.unit, r.grp, sum(r.created) AS n
    FROM account_to_date r
    JOIN units u ON u.facility = r.facility
    WHERE r.dim = $grp
    GROUP BY 1, 2, 3
), bookings AS (
    SELECT r.period, u.unit, r.grp, sum(r.booked) AS n
    FROM appointment_in_period r
    JOIN units u ON u.facility = r.facility
    WHERE r.dim = $grp
    GROUP BY 1, 2, 3
)
SELECT a.period, a.unit, a.grp, coalesce(b.n, 0) AS numerator, a.n AS denominator
FROM accounts a
LEFT JOIN bookings b ON b.period = a.period AND b.unit = a.unit AND b.grp = a.grp
