-- title = { vi = "Tài khoản đã đặt lịch", en = "Accounts that have booked" }
-- definition = { vi = "Số tài khoản đã đặt ít nhất một lịch khám tính đến hết kỳ, tính tại trạm y tế nơi công dân đăng ký.", en = "Accounts with at least one booking up to the end of the period, counted at the citizen's home station." }
-- unit = "count"
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
       count(*) AS numerator, NULL AS denominator
FROM account_current a
JOIN first_booking b ON b.citizen_key = a.account_key
JOIN units u ON u.facility = a.home_station
JOIN calendar_to_date c ON c.day = greatest(a.created_day, b.day, CAST($before AS DATE))
GROUP BY 1, 2, 3
