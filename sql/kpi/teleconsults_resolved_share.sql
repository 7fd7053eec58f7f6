-- title = { vi = "Tỷ lệ hội chẩn giải quyết không cần chuyển tuyến", en = "Teleconsults resolved without referral" }
-- definition = { vi = "Phần trăm cuộc hội chẩn từ xa bắt đầu trong kỳ kết thúc bằng tư vấn, không chuyển tuyến, trong số các cuộc hội chẩn đã có kết quả.", en = "Share of the teleconsults started in the period that ended with advice rather than a referral, among those with an outcome." }
-- unit = "percent"
-- numerator = { vi = "Hội chẩn kết thúc bằng tư vấn", en = "Teleconsults ended with advice" }
-- denominator = { vi = "Hội chẩn đã có kết quả", en = "Teleconsults with an outcome" }
-- higher_is_better = true
-- disaggregations = ["province", "station"]
SELECT c.period, u.unit, 'all' AS grp,
       count(CASE WHEN v.outcome = 'advice_given' THEN 1 END) AS numerator, count(*) AS denominator
FROM video_call_current v
JOIN units u ON u.facility = v.caller_station
JOIN calendar c ON c.day = v.started_day
-- The same days as the calendar's, on the instant (see appointments_booked).
WHERE v.purpose = 'teleconsult' AND v.outcome IS NOT NULL
  AND v.started_at >= $from_at AND v.started_at < $until_at
GROUP BY 1, 2, 3
