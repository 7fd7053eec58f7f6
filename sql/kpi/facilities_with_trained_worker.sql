-- title = { vi = "Cơ sở có cán bộ được đào tạo", en = "Facilities with a trained worker" }
-- definition = { vi = "Số cơ sở y tế có ít nhất một cán bộ hoàn thành khóa học trực tuyến trong kỳ.", en = "Facilities with at least one worker who completed an online course in the period." }
-- unit = "count"
-- higher_is_better = true
-- disaggregations = ["province", "station"]
SELECT c.period, u.unit, 'all' AS grp, count(DISTINCT t.facility) AS numerator, NULL AS denominator
FROM training_completion t
JOIN units u ON u.facility = t.facility
JOIN calendar c ON c.day = t.completed_day
GROUP BY 1, 2, 3
