-- National telemedicine scheme sessions from the rollups.
SELECT c.period, u.unit, 'all' AS grp, sum(r.sessions) AS numerator, NULL AS denominator
FROM telemedicine_daily r
JOIN units u ON u.facility = r.facility
JOIN calendar c ON c.day = r.day
GROUP BY 1, 2, 3
