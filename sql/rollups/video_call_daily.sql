-- Program video calls by calling station, start day and purpose (`dim` all or
-- purpose): calls, calls ended and their minutes, and teleconsults closed with an
-- outcome and those resolved without referral.
SELECT v.caller_station AS facility, v.started_day AS day, d.dim,
       CASE d.dim WHEN 'purpose' THEN v.purpose ELSE 'all' END AS grp,
       count(*) AS calls,
       count(v.minutes) AS ended,
       coalesce(sum(v.minutes), 0.0) AS minutes,
       count(CASE WHEN v.purpose = 'teleconsult' AND v.outcome IS NOT NULL THEN 1 END) AS teleconsults_closed,
       count(CASE WHEN v.purpose = 'teleconsult' AND v.outcome = 'advice_given' THEN 1 END) AS teleconsults_resolved
FROM video_call_current v
CROSS JOIN (VALUES ('all'), ('purpose')) AS d(dim)
GROUP BY 1, 2, 3, 4
