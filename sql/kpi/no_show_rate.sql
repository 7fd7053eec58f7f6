-- title = { vi = "Tỷ lệ không đến khám", en = "No-show rate" }
-- definition = { vi = "Phần trăm lịch khám có giờ hẹn trong kỳ mà công dân không đến, trong số lịch đã khám hoặc không đến.", en = "Share of the appointments whose slot fell in the period that were no-shows, among those fulfilled or no-shows." }
-- unit = "percent"
-- numerator = { vi = "Lịch khám không đến", en = "No-shows" }
-- denominator = { vi = "Lịch khám đã khám hoặc không đến", en = "Appointments fulfilled or no-shows" }
-- higher_is_better = false
-- disaggregations = ["province", "station", "sex", "age_band", "ethnic_minority"]
SELECT c.period, u.unit,
       CASE WHEN $grp = 'sex' THEN ap.sex
            WHEN $grp = 'age_band' THEN ap.age_band
            WHEN $grp = 'ethnic_minority' THEN CASE WHEN ap.ethnic_minority THEN 'minority' ELSE 'majority' END
            ELSE 'all' END AS grp,
       count(CASE WHEN ap.status = 'noshow' THEN 1 END) AS numerator, count(*) AS denominator
FROM appointment_current ap
JOIN units u ON u.facility = ap.station
JOIN calendar c ON c.day = ap.slot_day
-- The same days as the calendar's, on the instant (see appointments_booked).
WHERE ap.slot_start >= $from_at AND ap.slot_start < $until_at AND ap.status IN ('fulfilled', 'noshow')
GROUP BY 1, 2, 3
