-- title = { vi = "Lượt đặt lịch trên 1.000 tài khoản", en = "Bookings per 1,000 accounts" }
-- definition = { vi = "Số lịch khám đặt trong kỳ tại các trạm của đơn vị, theo nhóm của công dân ghi trên lịch, trên 1.000 tài khoản đăng ký tại các trạm đó và tạo tính đến hết kỳ (công bằng tiếp cận).", en = "Appointments booked in the period at the unit's stations, by the citizen's group as recorded with the booking, per 1,000 accounts registered at those stations and created up to the period's end (equity of access)." }
-- unit = "per_1000"
-- numerator = { vi = "Lịch khám đặt trong kỳ", en = "Appointments booked in the period" }
-- denominator = { vi = "Tài khoản đã tạo tính đến hết kỳ", en = "Accounts created up to the end of the period" }
-- higher_is_better = true
-- disaggregations = ["province", "station", "sex", "age_band", "ethnic_minority"]
WITH accounts AS (
    SELECT c.period, u.unit,
           CASE WHEN $grp = 'sex' THEN a.sex
                WHEN $grp = 'age_band' THEN a.age_band
                WHEN $grp = 'ethnic_minority' THEN CASE WHEN a.ethnic_minority THEN 'minority' ELSE 'majority' END
                ELSE 'all' END AS grp,
           count(*) AS n
    FROM account_current a
    JOIN units u ON u.facility = a.home_station
    JOIN calendar_to_date c ON c.day = greatest(a.created_day, CAST($before AS DATE))
    GROUP BY 1, 2, 3
), bookings AS (
    -- A booking counts where it was made, as in `appointments_booked`: the numerator
    -- of a unit is that KPI's figure for it.
    SELECT c.period, u.unit,
           CASE WHEN $grp = 'sex' THEN ap.sex
                WHEN $grp = 'age_band' THEN ap.age_band
                WHEN $grp = 'ethnic_minority' THEN CASE WHEN ap.ethnic_minority THEN 'minority' ELSE 'majority' END
                ELSE 'all' END AS grp,
           count(*) AS n
    FROM appointment_current ap
    JOIN units u ON u.facility = ap.station
    JOIN calendar c ON c.day = ap.booked_day
    -- The same days as the calendar's, on the instant: files of other months are skipped.
    WHERE NOT ap.rebooking AND ap.booked_at >= $from_at AND ap.booked_at < $until_at
    GROUP BY 1, 2, 3
)
SELECT a.period, a.unit, a.grp, coalesce(b.n, 0) AS numerator, a.n AS denominator
FROM accounts a
LEFT JOIN bookings b ON b.period = a.period AND b.unit = a.unit AND b.grp = a.grp
