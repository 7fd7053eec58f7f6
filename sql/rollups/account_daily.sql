-- Accounts by home station, creation day and group, under each breakdown (`dim`).
SELECT a.home_station AS facility, a.created_day AS day, d.dim,
       CASE d.dim WHEN 'sex' THEN a.sex
                  WHEN 'age_band' THEN a.age_band
                  WHEN 'ethnic_minority' THEN CASE WHEN a.ethnic_minority THEN 'minority' ELSE 'majority' END
                  ELSE 'all' END AS grp,
       count(*) AS created
FROM account_current a
CROSS JOIN (VALUES ('all'), ('sex'), ('age_band'), ('ethnic_minority')) AS d(dim)
GROUP BY 1, 2, 3, 4
