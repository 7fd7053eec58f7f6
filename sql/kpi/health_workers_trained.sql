-- title = { vi = "Cán bộ y tế được đào tạo", en = "Health workers trained" }
-- definition = { vi = "Số cán bộ y tế khác nhau hoàn thành ít nhất một khóa học trực tuyến trong kỳ, tính tại cơ sở của cán bộ.", en = "Distinct health workers who completed at least one online course in the period, counted at their facility." }
-- unit = "count"
-- higher_is_better = true
-- disaggregations = ["province", "station"]
SELECT c.period, u.unit, 'all' AS grp, count(DISTINCT t.staff_code) AS numerator, NULL AS denominator
FROM training_completion t
JOIN units u ON u.facility = t.facility
JOIN calendar c ON c.day = t.completed_day
GROUP BY 1, 2, 3
