-- National telemedicine scheme sessions from the rollups.
SELECT r.period, u.unit, 'all' AS grp, sum(r.sessions) AS numerator, NULL AS denominator
FROM telemedicine_in_period r
JOIN units u ON u.facility = r.facility
GROUP BY 1, 2, 3
