-- Bookings per 1,000 accounts from the rollups: accounts created up to the end of
-- each period (`account_to_date`) and the period's bookings (`holder_in_period`),
-- both at the account holder's home station and in their group.
WITH accounts AS (
    SELECT r.period, u.unit, r.grp, sum(r.created) AS n
    FROM account_to_date r
    JOIN units u ON u.facility = r.facility
    WHERE r.dim = $grp
    GROUP BY 1, 2, 3
), bookings AS (
    SELECT r.period, u.unit, r.grp, sum(r.bookings) AS n
    FROM holder_in_period r
    JOIN units u ON u.facility = r.facility
    WHERE r.dim = $grp
    GROUP BY 1, 2, 3
)
SELECT a.period, a.unit, a.grp, coalesce(b.n, 0) AS numerator, a.n AS denominator
FROM accounts a
LEFT JOIN bookings b ON b.period = a.period AND b.unit = a.unit AND b.grp = a.grp
