-- Accounts registered to date from the rollups: every month and day up to the end of
-- each period (`account_to_date`).
SELECT r.period, u.unit, r.grp, sum(r.created) AS numerator, NULL AS denominator
FROM account_to_date r
JOIN units u ON u.facility = r.facility
WHERE r.dim = $grp
GROUP BY 1, 2, 3
HAVING sum(r.created) > 0
