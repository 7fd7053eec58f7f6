-- title = { vi = "Tỷ lệ hủy lịch", en = "Cancellation rate" }
-- definition = { vi = "Phần trăm lịch khám đặt trong kỳ đã bị hủy.", en = "Share of the appointments booked in the period that were cancelled." }
-- unit = "percent"
-- numerator = { vi = "Lịch khám bị hủy", en = "Appointments cancelled" }
-- denominator = { vi = "Lịch khám đã đặt", en = "Appointments booked" }
-- higher_is_better = false
-- disaggregations = ["province", "station", "sex", "age_band", "ethnic_minority"]
SELECT c.period, u.unit,
       CASE WHEN $grp = 'sex' THEN ap.sex
            WHEN $grp = 'age_band' THEN ap.age_band
            WHEN $grp = 'ethnic_minority' THEN CASE WHEN ap.ethnic_minority THEN 'minority' ELSE 'majority' END
            ELSE 'all' END AS grp,
       count(CASE WHEN ap.status = 'cancelled' THEN 1 END) AS numerator, count(*) AS denominator
FROM appointment_current ap
JOIN units u ON u.facility = ap.station
JOIN calendar c ON c.day = ap.booked_day
-- The same days as the calendar's, on the instant (see appointments_booked).
WHERE NOT ap.rebooking AND ap.booked_at >= $from_at AND ap.booked_at < $until_at
GROUP BY 1, 2, 3
