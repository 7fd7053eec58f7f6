-- Booking conversion rate, its denominator from the rollups (accounts created up to
-- the end of each period, `account_to_date`). The numerator still needs each
-- account's first booking: an account counts from the later of its creation and
-- that booking, as in `accounts_that_booked`.
WITH first_booking AS (
    SELECT citizen_key, min(booked_day) AS day
    FROM appointment_current
    GROUP BY citizen_key
), accounts AS (
    SELECT r.period, u.unit, r.grp, sum(r.created) AS n
    FROM account_to_date r
    JOIN units u ON u.facility = r.facility
    WHERE r.dim = $grp
    GROUP BY 1, 2, 3
), booked AS (
    SELECT c.period, u.unit,
           CASE WHEN $grp = 'sex' THEN a.sex
                WHEN $grp = 'age_band' THEN a.age_band
                WHEN $grp = 'ethnic_minority' THEN CASE WHEN a.ethnic_minority THEN 'minority' ELSE 'majority' END
                ELSE 'all' END AS grp,
           count(*) AS n
    FROM account_current a
    JOIN first_booking b ON b.citizen_key = a.account_key
    JOIN units u ON u.facility = a.home_station
    JOIN calendar_to_date c ON c.day = greatest(a.created_day, b.day, CAST($before AS DATE))
    GROUP BY 1, 2, 3
)
SELECT a.period, a.unit, a.grp, coalesce(b.n, 0) AS numerator, a.n AS denominator
FROM accounts a
LEFT JOIN booked b ON b.period = a.period AND b.unit = a.unit AND b.grp = a.grp
