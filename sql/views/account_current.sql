-- Every citizen account as it stands now: its latest version in the change feed.
-- Days are local calendar days (local_date uses the configured timezone).
SELECT account_key, sex, age_band, ethnic_minority, home_station,
       local_date(created_at) AS created_day, local_date(closed_at) AS closed_day
FROM accounts
-- The latest change of each is the one with the highest feed number (the feed is in
-- commit order): a hash aggregate and a join, cheaper than a window over the feed.
JOIN (SELECT max(seq) AS latest FROM accounts GROUP BY account_key) l ON l.latest = accounts.seq
