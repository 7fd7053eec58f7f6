-- The latest status of each appointment (the feed holds every status change).
-- `rebooking` marks an appointment made by rescheduling another: it is not a new
-- booking. Appointments entered in error are left out of every figure.
SELECT appointment_id, status, station, citizen_key, sex, age_band, ethnic_minority, reason,
       booked_at, local_date(booked_at) AS booked_day, slot_start, local_date(slot_start) AS slot_day,
       rescheduled_from IS NOT NULL AS rebooking
-- `appointments_latest` holds the latest version of each (see `Engine::session_over`).
FROM appointments_latest
WHERE status <> 'entered-in-error'
