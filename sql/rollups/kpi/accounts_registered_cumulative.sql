-- Accounts registered to date from the rollups: days before the request's first day
-- fold into `$before`, as in the raw query.
SELECT c.period, u.unit, r.grp, sum(r.created) AS numerator, NULL AS denominator
FROM account_daily r
JOIN units u ON u.facility = r.facility
JOIN calendar_to_date c ON c.day = greatest(r.day, CAST($before AS DATE))
WHERE r.dim = $grp
GROUP BY 1, 2, 3
HAVING sum(r.created) > 0
