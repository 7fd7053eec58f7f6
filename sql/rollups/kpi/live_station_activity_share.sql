-- Share of live stations with any activity from the rollups: a station is active in
-- a period when a month or day of it has an appointment booked or a video call started.
WITH live AS (
    SELECT p.period, u.unit, s.station
    FROM periods p
    CROSS JOIN stations s
    JOIN units u ON u.facility = s.station
    WHERE s.go_live <= p.period_end
), active AS (
    SELECT r.period, r.facility AS station
    FROM appointment_in_period r
    WHERE r.dim = 'all' AND r.activity > 0
    UNION
    SELECT r.period, r.facility AS station
    FROM video_call_in_period r
    WHERE r.dim = 'all' AND r.calls > 0
)
SELECT l.period, l.unit, 'all' AS grp, count(a.station) AS numerator, count(*) AS denominator
FROM live l
LEFT JOIN active a ON a.period = l.period AND a.station = l.station
GROUP BY 1, 2, 3
