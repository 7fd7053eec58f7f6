-- National telemedicine scheme sessions by spoke facility and start day.
SELECT spoke AS facility, started_day AS day, count(*) AS sessions
FROM telemedicine_session
GROUP BY 1, 2
