-- Course completions by facility, day and health worker: the set of workers behind
-- each day, kept whole so that distinct workers over any period count exactly.
SELECT facility, completed_day AS day, staff_code, count(*) AS completions
FROM training_completion
GROUP BY 1, 2, 3
