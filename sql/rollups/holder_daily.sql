-- Bookings and first bookings by the account holder's home station and group (the
-- account as it stands now), by day and under each breakdown (`dim`): `bookings` on
-- the day a booking was made (reschedules left out), `first_bookings` on the day an
-- account starts to count as having booked (the later of its creation and its first
-- booking). Every account is read, so the refresh recomputes this rollup whole.
WITH first_booking AS (
    SELECT citizen_key, min(booked_day) AS day
    FROM appointment_current
    GROUP BY citizen_key
), events AS (
    SELECT a.home_station, a.sex, a.age_band, a.ethnic_minority, ap.booked_day AS day,
           1 AS bookings, 0 AS first_bookings
    FROM appointment_current ap
    JOIN account_current a ON a.account_key = ap.citizen_key
    WHERE NOT ap.rebooking
    UNION ALL
    SELECT a.home_station, a.sex, a.age_band, a.ethnic_minority, greatest(a.created_day, b.day) AS day,
           0 AS bookings, 1 AS first_bookings
    FROM account_current a
    JOIN first_booking b ON b.citizen_key = a.account_key
), cells AS (
    SELECT home_station, day, sex, age_band, ethnic_minority,
           sum(bookings) AS bookings, sum(first_bookings) AS first_bookings
    FROM events
    GROUP BY 1, 2, 3, 4, 5
)
SELECT c.home_station AS facility, c.day, d.dim,
       CASE d.dim WHEN 'sex' THEN c.sex
                  WHEN 'age_band' THEN c.age_band
                  WHEN 'ethnic_minority' THEN CASE WHEN c.ethnic_minority THEN 'minority' ELSE 'majority' END
                  ELSE 'all' END AS grp,
       sum(c.bookings) AS bookings, sum(c.first_bookings) AS first_bookings
FROM cells c
CROSS JOIN (VALUES ('all'), ('sex'), ('age_band'), ('ethnic_minority')) AS d(dim)
GROUP BY 1, 2, 3, 4
