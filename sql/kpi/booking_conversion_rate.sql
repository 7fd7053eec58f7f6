-- title = { vi = "Tỷ lệ tài khoản đã đặt lịch", en = "Booking conversion rate" }
-- definition = { vi = "Phần trăm tài khoản đã tạo tính đến hết kỳ có ít nhất một lịch khám.", en = "Share of the accounts created up to the end of the period that have booked at least once." }
-- unit = "percent"
-- numerator = { vi = "Tài khoản đã đặt lịch", en = "Accounts that have booked" }
-- denominator = { vi = "Tài khoản đã tạo", en = "Accounts created" }
-- higher_is_better = true
-- disaggregations = ["province", "station", "sex", "age_band", "ethnic_minority"]
WITH first_booking AS (
    SELECT citizen_key, min(booked_day) AS day
    FROM appointment_current
    GROUP BY citizen_key
)
SELECT c.period, u.unit,
       CASE WHEN $grp = 'sex' THEN a.sex
            WHEN $grp = 'age_band' THEN a.age_band
            WHEN $grp = 'ethnic_minority' THEN CASE WHEN a.ethnic_minority THEN 'minority' ELSE 'majority' END
            ELSE 'all' END AS grp,
       count(CASE WHEN b.day <= c.period_end THEN 1 END) AS numerator, count(*) AS denominator
FROM account_current a
LEFT JOIN first_booking b ON b.citizen_key = a.account_key
JOIN units u ON u.facility = a.home_station
JOIN calendar_to_date c ON c.day = greatest(a.created_day, CAST($before AS DATE))
GROUP BY 1, 2, 3
