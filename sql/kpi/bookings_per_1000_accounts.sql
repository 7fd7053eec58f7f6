-- title = { vi = "Lượt đặt lịch trên 1.000 tài khoản", en = "Bookings per 1,000 accounts" }
-- definition = { vi = "Số lịch khám đặt trong kỳ trên 1.000 tài khoản đã tạo tính đến hết kỳ, theo nhóm công dân (công bằng tiếp cận).", en = "Appointments booked in the period per 1,000 accounts created up to its end, by group of citizens (equity of access)." }
-- unit = "per_1000"
-- numerator = { vi = "Lịch khám đặt trong kỳ", en = "Appointments booked in the period" }
-- denominator = { vi = "Tài khoản đã tạo tính đến hết kỳ", en = "Accounts created up to the end of the period" }
-- higher_is_better = true
-- disaggregations = ["province", "station", "sex", "age_band", "ethnic_minority"]
WITH accounts AS (
    SELECT c.period, u.unit,
           CASE WHEN $grp = 'sex' THEN a.sex
                WHEN $grp = 'age_band' THEN a.age_band
                WHEN $grp = 'ethnic_minority' THEN CASE WHEN a.ethnic_minority THEN 'minority' ELSE 'majority' END
                ELSE 'all' END AS grp,
           count(*) AS n
    FROM account_current a
    JOIN units u ON u.facility = a.home_station
    JOIN calendar_to_date c ON c.day = greatest(a.created_day, CAST($before AS DATE))
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
