-- title = { vi = "Lượt khám đã hoàn thành", en = "Appointments completed" }
-- definition = { vi = "Số lịch khám có giờ hẹn trong kỳ mà công dân đã được khám.", en = "Appointments whose slot fell in the period and that were fulfilled." }
-- unit = "count"
-- higher_is_better = true
-- additive = true
-- disaggregations = ["province", "station", "sex", "age_band", "ethnic_minority"]
SELECT c.period, u.unit,
       CASE WHEN $grp = 'sex' THEN ap.sex
            WHEN $grp = 'age_band' THEN ap.age_band
            WHEN $grp = 'ethnic_minority' THEN CASE WHEN ap.ethnic_minority THEN 'minority' ELSE 'majority' END
            ELSE 'all' END AS grp,
       count(*) AS numerator, NULL AS denominator
FROM appointment_current ap
JOIN units u ON u.facility = ap.station
JOIN calendar c ON c.day = ap.slot_day
-- The same days as the calendar's, on the instant (see appointments_booked).
WHERE ap.slot_start >= $from_at AND ap.slot_start < $until_at AND ap.status = 'fulfilled'
GROUP BY 1, 2, 3
