-- title = { vi = "Tài khoản đăng ký (lũy kế)", en = "Accounts registered (cumulative)" }
-- definition = { vi = "Số tài khoản công dân đã được tạo tính đến hết kỳ, tính tại trạm y tế nơi công dân đăng ký.", en = "Citizen accounts created up to the end of the period, counted at the citizen's home station." }
-- unit = "count"
-- higher_is_better = true
-- disaggregations = ["province", "station", "sex", "age_band", "ethnic_minority"]
SELECT c.period, u.unit,
       CASE WHEN $grp = 'sex' THEN a.sex
            WHEN $grp = 'age_band' THEN a.age_band
            WHEN $grp = 'ethnic_minority' THEN CASE WHEN a.ethnic_minority THEN 'minority' ELSE 'majority' END
            ELSE 'all' END AS grp,
       count(*) AS numerator, NULL AS denominator
FROM account_current a
JOIN units u ON u.facility = a.home_station
JOIN calendar_to_date c ON c.day = greatest(a.created_day, CAST($before AS DATE))
-- No account created after the last day counts (see appointments_booked).
WHERE a.created_at < $until_at
GROUP BY 1, 2, 3
