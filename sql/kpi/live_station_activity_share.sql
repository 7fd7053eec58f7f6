-- title = { vi = "Tỷ lệ trạm y tế có hoạt động", en = "Live stations with activity" }
-- definition = { vi = "Phần trăm trạm y tế đã triển khai (đến ngày bắt đầu hoạt động trước khi hết kỳ) có ít nhất một lượt đặt lịch hoặc một cuộc gọi video trong kỳ.", en = "Share of the live stations (past their go-live date by the end of the period) with at least one booking or video call in the period." }
-- unit = "percent"
-- numerator = { vi = "Trạm có hoạt động", en = "Stations with activity" }
-- denominator = { vi = "Trạm đã triển khai", en = "Live stations" }
-- higher_is_better = true
-- disaggregations = ["province", "station"]
WITH live AS (
    SELECT p.period, u.unit, s.station
    FROM periods p
    CROSS JOIN stations s
    JOIN units u ON u.facility = s.station
    WHERE s.go_live <= p.period_end
), active AS (
    SELECT c.period, ap.station
    FROM appointment_current ap
    JOIN calendar c ON c.day = ap.booked_day
    UNION
    SELECT c.period, v.caller_station AS station
    FROM video_call_current v
    JOIN calendar c ON c.day = v.started_day
)
SELECT l.period, l.unit, 'all' AS grp, count(a.station) AS numerator, count(*) AS denominator
FROM live l
LEFT JOIN active a ON a.period = l.period AND a.station = l.station
GROUP BY 1, 2, 3
