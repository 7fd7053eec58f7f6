-- title = { vi = "Lượt đặt lịch khám", en = "Appointments booked" }
-- definition = { vi = "Số lịch khám được đặt trong kỳ tại trạm y tế, không tính lịch đổi từ lịch khác và lịch nhập nhầm.", en = "Appointments booked at commune stations in the period, not counting rebookings of another appointment or entries in error." }
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
JOIN calendar c ON c.day = ap.booked_day
-- The same days as the calendar's, on the instant: files of other months are skipped,
-- and the raw path finds the latest version of those appointments only.
WHERE NOT ap.rebooking AND ap.booked_at >= $from_at AND ap.booked_at < $until_at
GROUP BY 1, 2, 3
