-- The latest version of every facility, commune stations and hospitals alike, from
-- the facilities change feed (one row per change).
SELECT code AS facility, name, level, province_63, province_34, commune_id, refers_to, go_live, catchment_population
FROM facilities
-- The latest change of each is the one with the highest feed number (the feed is in
-- commit order): a hash aggregate and a join, cheaper than a window over the feed.
JOIN (SELECT max(seq) AS latest FROM facilities GROUP BY code) l ON l.latest = facilities.seq
