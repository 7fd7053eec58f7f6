-- Commune health stations: the places citizens book at and the program's unit of
-- uptake. A station is live from its go-live date.
SELECT facility AS station, name, province_63, province_34, commune_id, go_live, catchment_population
FROM facility_current
WHERE level = 'commune_station'
