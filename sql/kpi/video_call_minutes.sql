-- title = { vi = "Số phút gọi video", en = "Video call minutes" }
-- definition = { vi = "Tổng số phút của các cuộc gọi video đã kết thúc, bắt đầu trong kỳ, tính tại trạm gọi.", en = "Total minutes of the ended video calls that started in the period, counted at the calling station." }
-- unit = "minutes"
-- higher_is_better = true
-- additive = true
-- disaggregations = ["province", "station", "purpose"]
SELECT c.period, u.unit, CASE WHEN $grp = 'purpose' THEN v.purpose ELSE 'all' END AS grp, sum(v.minutes) AS numerator, NULL AS denominator
FROM video_call_current v
JOIN units u ON u.facility = v.caller_station
JOIN calendar c ON c.day = v.started_day
-- The same days as the calendar's, on the instant (see appointments_booked).
WHERE v.minutes IS NOT NULL AND v.started_at >= $from_at AND v.started_at < $until_at
GROUP BY 1, 2, 3
