-- Bookings per 1,000 accounts, its denominator from the rollups: accounts created up
-- to the end of each period, by home station and group, are what `account_to_date`
-- sums. The bookings still join each appointment to its account holder, whose group
-- and home station no rollup carries; the period's bookings are few beside the
-- accounts this spares reading.
WITH accounts AS (
    SELECT r.period, u.unit, r.grp, sum(r.created) AS n
    FROM account_to_date r
    JOIN units u ON u.facility = r.facility
    WHERE r.dim = $grp
    GROUP BY 1, 2, 3
), bookings AS (
    SELECT c.period, u.unit,
           CASE WHEN $grp = 'sex' THEN a.sex
                WHEN $grp = 'age_band' THEN a.age_band
                WHEN $grp = 'ethnic_minority' THEN CASE WHEN a.ethnic_minority THEN 'minority' ELSE 'majority' END
                ELSE 'all' END AS grp,
           count(*) AS n
    FROM appointment_current ap
    JOIN account_current a ON a.account_key = ap.citizen_key
    JOIN units u ON u.facility = a.home_station
    JOIN calendar c ON c.day = ap.booked_day
    -- The same days as the calendar's, on the instant: files of other months are skipped.
    WHERE NOT ap.rebooking AND ap.booked_at >= $from_at AND ap.booked_at < $until_at
    GROUP BY 1, 2, 3
)
SELECT a.period, a.unit, a.grp, coalesce(b.n, 0) AS numerator, a.n AS denominator
FROM accounts a
LEFT JOIN bookings b ON b.period = a.period AND b.unit = a.unit AND b.grp = a.grp
