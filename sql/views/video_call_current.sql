-- Each program video call as it stands now (a call is inserted when it starts and
-- updated when it ends). Minutes are null while a call has not ended.
SELECT call_id, caller_station, callee_facility, purpose, outcome,
       local_date(started_at) AS started_day,
       (date_part('epoch', ended_at) - date_part('epoch', started_at)) / 60.0 AS minutes
FROM video_calls
-- The latest change of each is the one with the highest feed number (the feed is in
-- commit order): a hash aggregate and a join, cheaper than a window over the feed.
JOIN (SELECT max(seq) AS latest FROM video_calls GROUP BY call_id) l ON l.latest = video_calls.seq
