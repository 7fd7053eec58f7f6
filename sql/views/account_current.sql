-- Every citizen account as it stands now: its latest version in the change feed.
-- Days are local calendar days (local_date uses the configured timezone).
SELECT account_key, sex, age_band, ethnic_minority, home_station, created_at,
       local_date(created_at) AS created_day, local_date(closed_at) AS closed_day
-- `accounts_latest` holds the latest version of each (see `Engine::session_over`).
FROM accounts_latest
