-- Appointments by station, day and group. Each appointment counts on its booking day
-- (activity: every appointment, rebookings included; booked and cancelled: new
-- bookings only) and, once fulfilled or a no-show, on its slot's day. Every row is
-- repeated under each breakdown (`dim`), so that a KPI reads one breakdown's rows.
WITH facts AS (
    SELECT station AS facility, booked_day AS day, sex, age_band, ethnic_minority,
           1 AS activity,
           CASE WHEN rebooking THEN 0 ELSE 1 END AS booked,
           CASE WHEN NOT rebooking AND status = 'cancelled' THEN 1 ELSE 0 END AS cancelled,
           0 AS fulfilled, 0 AS noshow
    FROM appointment_current
    UNION ALL
    SELECT station, slot_day, sex, age_band, ethnic_minority, 0, 0, 0,
           CASE WHEN status = 'fulfilled' THEN 1 ELSE 0 END,
           CASE WHEN status = 'noshow' THEN 1 ELSE 0 END
    FROM appointment_current
    WHERE status IN ('fulfilled', 'noshow')
)
SELECT f.facility, f.day, d.dim,
       CASE d.dim WHEN 'sex' THEN f.sex
                  WHEN 'age_band' THEN f.age_band
                  WHEN 'ethnic_minority' THEN CASE WHEN f.ethnic_minority THEN 'minority' ELSE 'majority' END
                  ELSE 'all' END AS grp,
       sum(f.activity) AS activity, sum(f.booked) AS booked, sum(f.cancelled) AS cancelled,
       sum(f.fulfilled) AS fulfilled, sum(f.noshow) AS noshow
FROM facts f
CROSS JOIN (VALUES ('all'), ('sex'), ('age_band'), ('ethnic_minority')) AS d(dim)
GROUP BY 1, 2, 3, 4
