-- Each program video call as it stands now (a call is inserted when it starts and
-- updated when it ends). Minutes are null while a call has not ended.
SELECT call_id, caller_station, callee_facility, purpose, outcome,
       started_at, local_date(started_at) AS started_day,
       (date_part('epoch', ended_at) - date_part('epoch', started_at)) / 60.0 AS minutes
-- `video_calls_latest` holds the latest version of each (see `Engine::session_over`).
FROM video_calls_latest
