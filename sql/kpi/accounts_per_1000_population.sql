-- title = { vi = "Tài khoản trên 1.000 dân", en = "Accounts per 1,000 population" }
-- definition = { vi = "Số tài khoản đã tạo tính đến hết kỳ trên 1.000 dân thuộc địa bàn các trạm y tế của đơn vị.", en = "Accounts created up to the end of the period per 1,000 people in the catchment of the unit's stations." }
-- unit = "per_1000"
-- numerator = { vi = "Tài khoản đã tạo tính đến hết kỳ", en = "Accounts created up to the end of the period" }
-- denominator = { vi = "Dân số địa bàn các trạm y tế", en = "Catchment population of the stations" }
-- higher_is_better = true
-- disaggregations = ["province", "station"]
WITH accounts AS (
    SELECT c.period, u.unit, count(*) AS n
    FROM account_current a
    JOIN units u ON u.facility = a.home_station
    JOIN calendar_to_date c ON c.day = greatest(a.created_day, CAST($before AS DATE))
    GROUP BY 1, 2
), population AS (
    SELECT u.unit, sum(s.catchment_population) AS people
    FROM units u
    JOIN stations s ON s.station = u.facility
    GROUP BY 1
)
SELECT p.period, pop.unit, 'all' AS grp, coalesce(a.n, 0) AS numerator, pop.people AS denominator
FROM periods p
CROSS JOIN population pop
LEFT JOIN accounts a ON a.period = p.period AND a.unit = pop.unit
