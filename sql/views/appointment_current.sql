-- The latest status of each appointment (the feed holds every status change).
-- `rebooking` marks an appointment made by rescheduling another: it is not a new
-- booking. Appointments entered in error are left out of every figure.
SELECT appointment_id, status, station, citizen_key, sex, age_band, ethnic_minority, reason,
       local_date(booked_at) AS booked_day, local_date(slot_start) AS slot_day,
       rescheduled_from IS NOT NULL AS rebooking
FROM appointments
-- The latest change of each is the one with the highest feed number (the feed is in
-- commit order): a hash aggregate and a join, cheaper than a window over the feed.
JOIN (SELECT max(seq) AS latest FROM appointments GROUP BY appointment_id) l ON l.latest = appointments.seq
WHERE status <> 'entered-in-error'
