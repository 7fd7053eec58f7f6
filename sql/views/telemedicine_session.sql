-- Sessions of the national hospital telemedicine scheme, from its CSV drops: a
-- source reported beside the program's own video calls, never added to them.
SELECT session_id, hub, spoke, local_date(started_at) AS started_day, duration_min, specialty, cases_discussed
FROM telemedicine_sessions
