-- Accounts registered from the rollups: the sum of created over the days of each period.
SELECT r.period, u.unit, r.grp, sum(r.created) AS numerator, NULL AS denominator
FROM account_in_period r
JOIN units u ON u.facility = r.facility
WHERE r.dim = $grp
GROUP BY 1, 2, 3
HAVING sum(r.created) > 0
