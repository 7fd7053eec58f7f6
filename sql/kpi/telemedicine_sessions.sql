-- title = { vi = "Phiên khám chữa bệnh từ xa của bệnh viện", en = "Hospital telemedicine sessions" }
-- definition = { vi = "Số phiên của Đề án khám chữa bệnh từ xa bắt đầu trong kỳ, tính tại điểm cầu tuyến dưới. Nguồn riêng, báo cáo bên cạnh và không cộng vào cuộc gọi video của chương trình.", en = "Sessions of the national telemedicine scheme started in the period, counted at the spoke site. A separate source, reported beside the program's video calls and never added to them." }
-- unit = "count"
-- higher_is_better = true
-- additive = true
-- disaggregations = ["province", "station"]
SELECT c.period, u.unit, 'all' AS grp, count(*) AS numerator, NULL AS denominator
FROM telemedicine_session t
JOIN units u ON u.facility = t.spoke
JOIN calendar c ON c.day = t.started_day
GROUP BY 1, 2, 3
