-- title = { vi = "Cuộc gọi video của chương trình", en = "Program video calls" }
-- definition = { vi = "Số cuộc gọi video bắt đầu trong kỳ giữa trạm y tế và cơ sở tuyến trên, tính tại trạm gọi.", en = "Video calls started in the period between a commune station and an upper-level facility, counted at the calling station." }
-- unit = "count"
-- higher_is_better = true
-- additive = true
-- disaggregations = ["province", "station", "purpose"]
SELECT c.period, u.unit, CASE WHEN $grp = 'purpose' THEN v.purpose ELSE 'all' END AS grp, count(*) AS numerator, NULL AS denominator
FROM video_call_current v
JOIN units u ON u.facility = v.caller_station
JOIN calendar c ON c.day = v.started_day
-- The same days as the calendar's, on the instant (see appointments_booked).
WHERE v.started_at >= $from_at AND v.started_at < $until_at
GROUP BY 1, 2, 3
