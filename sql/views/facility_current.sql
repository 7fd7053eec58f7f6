-- The latest version of every facility, commune stations and hospitals alike, from
-- the facilities change feed (one row per change).
SELECT code AS facility, name, level, province_63, province_34, commune_id, refers_to, go_live, catchment_population
FROM (
    SELECT *, row_number() OVER (PARTITION BY code ORDER BY version DESC, seq DESC) AS latest
    FROM facilities
)
WHERE latest = 1
