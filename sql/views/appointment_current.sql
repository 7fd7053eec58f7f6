-- The latest status of each appointment (the feed holds every status change).
-- `rebooking` marks an appointment made by rescheduling another: it is not a new
-- booking. Appointments entered in error are left out of every figure.
SELECT appointment_id, status, station, citizen_key, sex, age_band, ethnic_minority, reason,
       local_date(booked_at) AS booked_day, local_date(slot_start) AS slot_day,
       rescheduled_from IS NOT NULL AS rebooking
FROM (
    SELECT *, row_number() OVER (PARTITION BY appointment_id ORDER BY version DESC, seq DESC) AS latest
    FROM appointments
)
WHERE latest = 1 AND status <> 'entered-in-error'
