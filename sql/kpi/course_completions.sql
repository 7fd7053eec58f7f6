-- title = { vi = "Lượt hoàn thành khóa học", en = "Course completions" }
-- definition = { vi = "Số lượt cán bộ y tế hoàn thành một khóa học trực tuyến trong kỳ.", en = "Online course enrolments completed in the period." }
-- unit = "count"
-- higher_is_better = true
-- additive = true
-- disaggregations = ["province", "station"]
SELECT c.period, u.unit, 'all' AS grp, count(*) AS numerator, NULL AS denominator
FROM training_completion t
JOIN units u ON u.facility = t.facility
JOIN calendar c ON c.day = t.completed_day
GROUP BY 1, 2, 3
