-- Course completions on the training platform (its attendance drops): one row per
-- completed enrolment.
SELECT record_id, staff_code, facility, course_code, local_date(completed_at) AS completed_day, score
FROM training_attendance
WHERE completed_at IS NOT NULL
