//! Every kind of invalid value fed to the domain constructors gets an error that
//! names its field.

use chrono::{DateTime, TimeZone, Utc};
use homedoc::domain::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 31, 2, 0, 0).unwrap()
}

fn code(s: &str) -> FacilityCode {
    FacilityCode::parse(s).unwrap()
}

fn p(s: &str) -> ProvinceCode {
    ProvinceCode::parse(s).unwrap()
}

#[track_caller]
fn field_of<T: std::fmt::Debug>(r: Result<T, DomainError>) -> &'static str {
    r.expect_err("should be rejected").field()
}

#[test]
fn codes_reject_unknown_values_by_field() {
    assert_eq!(field_of(AppointmentStatus::parse("done")), "status");
    assert_eq!(field_of(FacilityLevel::parse("clinic")), "level");
    assert_eq!(field_of(CallPurpose::parse("chat")), "purpose");
    assert_eq!(field_of(CallOutcome::parse("cured")), "outcome");
    assert_eq!(field_of(Sex::parse("x")), "sex");
    assert_eq!(field_of(Cadre::parse("surgeon")), "cadre");
    assert_eq!(field_of(ReasonCategory::parse("")), "reason");
    assert_eq!(field_of(BoundarySet::parse("35")), "boundary");
    assert_eq!(AppointmentStatus::parse("entered-in-error").unwrap(), AppointmentStatus::EnteredInError);
    assert_eq!(BoundarySet::default(), BoundarySet::P34);
}

#[test]
fn province_and_facility_codes() {
    assert_eq!(field_of(ProvinceCode::parse("2")), "province");
    assert_eq!(field_of(ProvinceCode::parse("00")), "province");
    assert_eq!(field_of(ProvinceCode::parse("ab")), "province");
    assert_eq!(p("02").to_string(), "02");
    assert_eq!(field_of(FacilityCode::parse("ab")), "facility");
    assert_eq!(field_of(FacilityCode::parse("TYT 01")), "facility");
    let key = ProvinceKey { set: BoundarySet::P63, code: p("46") };
    assert_eq!(key.to_string(), "63:46");
}

#[test]
fn province_fields() {
    let key = ProvinceKey { set: BoundarySet::P34, code: p("08") };
    assert_eq!(field_of(Province::new(key, " ", "tuyen_quang", 1, false, 1)), "name_vi");
    assert_eq!(field_of(Province::new(key, "Tuyên Quang", "Tuyen Quang", 1, false, 1)), "slug");
    assert_eq!(field_of(Province::new(key, "Tuyên Quang", "tuyen_quang", 0, false, 1)), "population_2019");
    assert_eq!(field_of(Province::new(key, "Tuyên Quang", "tuyen_quang", 1, false, 0)), "communes");
    // Decomposed input is stored composed (NFC), so names join across sources.
    let decomposed = "Hoa\u{300} Bi\u{300}nh";
    let prov = Province::new(key, decomposed, "hoa_binh", 1, false, 1).unwrap();
    assert_eq!(prov.name_vi, "Hoà Bình");
    let crosswalk = Crosswalk::new([(p("02"), p("08")), (p("02"), p("15"))]);
    assert_eq!(field_of(crosswalk), "crosswalk");
}

#[test]
fn facility_rules() {
    let station = |commune: Option<&str>, refers: Option<&str>, catchment: Option<u32>| {
        Facility::new(
            code("TYT02-0001"),
            "Trạm y tế xã Một",
            FacilityLevel::CommuneStation,
            p("02"),
            p("08"),
            commune.map(String::from),
            refers.map(code),
            None,
            catchment,
        )
    };
    assert!(station(Some("02-0001"), Some("TTYT02-01"), Some(4000)).is_ok());
    assert_eq!(field_of(station(None, Some("TTYT02-01"), Some(4000))), "commune_id");
    assert_eq!(field_of(station(Some("02-0001"), None, Some(4000))), "refers_to");
    assert_eq!(field_of(station(Some("02-0001"), Some("TYT02-0001"), Some(4000))), "refers_to");
    assert_eq!(field_of(station(Some("02-0001"), Some("TTYT02-01"), None)), "catchment_population");
    assert_eq!(field_of(station(Some("02-0001"), Some("TTYT02-01"), Some(0))), "catchment_population");
    let hospital =
        Facility::new(code("BVT02"), "", FacilityLevel::ProvincialHospital, p("02"), p("08"), None, None, None, None);
    assert_eq!(field_of(hospital), "name");
}

#[test]
fn people_fields() {
    assert_eq!(Phone::parse("+84 912 345 678").unwrap().as_str(), "0912345678");
    assert_eq!(Phone::parse("0912.345.678").unwrap().as_str(), "0912345678");
    assert_eq!(field_of(Phone::parse("0212345678")), "phone");
    assert_eq!(field_of(Phone::parse("091234567")), "phone");
    assert_eq!(field_of(PersonName::parse("  ")), "name");
    assert_eq!(field_of(PersonName::parse("Nguyễn Văn 2")), "name");
    assert_eq!(field_of(PersonName::parse(&"a".repeat(101))), "name");
    assert_eq!(field_of(BirthYear::new(1899, now())), "birth_year");
    assert_eq!(field_of(BirthYear::new(2027, now())), "birth_year");
    assert_eq!(field_of(Vulnerability::from_bits(8)), "vulnerable");
    assert_eq!(Vulnerability::from_bits(5).unwrap().bits(), 5);
    let by = BirthYear::new(1980, now()).unwrap();
    assert_eq!(field_of(HealthWorker::new("hw 1", code("TYT02-0001"), Cadre::Nurse, Sex::Female, by)), "staff_code");
    assert_eq!(age_band(2020, 2024), "0-4");
    assert_eq!(age_band(1960, 2025), "65+");
}

#[test]
fn accounts_need_consent_before_creation() {
    let make = |consent: Option<DateTime<Utc>>, birth: i32| {
        Account::new(
            Phone::parse("0912345678").unwrap(),
            PersonName::parse("Nguyễn Thị Lan").unwrap(),
            Sex::Female,
            BirthYear::new(birth, now()).unwrap(),
            true,
            Vulnerability::default(),
            code("TYT02-0001"),
            consent,
            now(),
        )
    };
    assert!(make(Some(now()), 1990).is_ok());
    assert_eq!(field_of(make(None, 1990)), "consent");
    assert_eq!(field_of(make(Some(now() + chrono::Duration::hours(1)), 1990)), "consent");
    let early = Account::new(
        Phone::parse("0912345678").unwrap(),
        PersonName::parse("Lan").unwrap(),
        Sex::Female,
        BirthYear::new(2026, now()).unwrap(),
        false,
        Vulnerability::default(),
        code("TYT02-0001"),
        Some(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()),
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(),
    );
    assert_eq!(field_of(early), "birth_year");
}

#[test]
fn slots_and_appointments() {
    let start = now() + chrono::Duration::days(1);
    assert_eq!(field_of(Slot::new(code("TYT02-0001"), start, 30, 0)), "capacity");
    assert_eq!(field_of(Slot::new(code("TYT02-0001"), start, 30, 201)), "capacity");
    assert_eq!(field_of(Slot::new(code("TYT02-0001"), start, 4, 1)), "duration_min");
    let past = Slot::new(code("TYT02-0001"), now() - chrono::Duration::hours(1), 30, 4).unwrap();
    assert_eq!(field_of(past.ensure_future(now())), "start");
    let r = ReasonCategory::ChronicCare;
    assert_eq!(field_of(Appointment::new(0, 1, r, AppointmentStatus::Booked, now(), None)), "slot_id");
    assert_eq!(field_of(Appointment::new(1, -1, r, AppointmentStatus::Booked, now(), None)), "citizen_id");
    assert_eq!(field_of(Appointment::new(1, 1, r, AppointmentStatus::Fulfilled, now(), None)), "status");
    assert_eq!(field_of(Appointment::new(1, 1, r, AppointmentStatus::Booked, now(), Some(0))), "rescheduled_from");
}

#[test]
fn appointment_transitions_follow_the_fhir_lifecycle() {
    use AppointmentStatus::*;
    assert!(Booked.can_become(Arrived));
    assert!(Arrived.can_become(Fulfilled));
    assert!(Booked.can_become(Noshow));
    assert!(Waitlist.can_become(Booked));
    assert!(Fulfilled.can_become(EnteredInError));
    let err = Fulfilled.transition(Booked).unwrap_err();
    assert_eq!(err.field(), "status");
    assert_eq!(err.to_string(), "status: an appointment cannot go from fulfilled to booked");
    assert!(!Cancelled.can_become(Arrived));
    assert!(!EnteredInError.can_become(EnteredInError));
    for s in AppointmentStatus::ALL {
        assert!(!EnteredInError.can_become(*s));
    }
}

#[test]
fn video_calls_go_up_and_close_once() {
    let t = now();
    let station = FacilityLevel::CommuneStation;
    let open = |callee_level| {
        VideoCall::open(code("TYT02-0001"), station, code("TTYT02-01"), callee_level, CallPurpose::Teleconsult, t)
    };
    assert_eq!(field_of(open(FacilityLevel::CommuneStation)), "callee_facility");
    let not_station = VideoCall::open(
        code("TTYT02-01"),
        FacilityLevel::DistrictCentre,
        code("BVT02"),
        FacilityLevel::ProvincialHospital,
        CallPurpose::Meeting,
        t,
    );
    assert_eq!(field_of(not_station), "caller_station");
    let mut call = open(FacilityLevel::DistrictCentre).unwrap();
    assert_eq!(
        field_of(call.clone().close(t - chrono::Duration::minutes(1), Some(CallOutcome::AdviceGiven))),
        "ended_at"
    );
    assert_eq!(field_of(call.clone().close(t, None)), "outcome");
    call.close(t + chrono::Duration::minutes(20), Some(CallOutcome::ReferredUp)).unwrap();
    assert_eq!(field_of(call.close(t + chrono::Duration::minutes(30), Some(CallOutcome::ReferredUp))), "ended_at");
    let mut meeting = VideoCall::open(
        code("TYT02-0001"),
        station,
        code("BVT02"),
        FacilityLevel::ProvincialHospital,
        CallPurpose::Meeting,
        t,
    )
    .unwrap();
    assert_eq!(field_of(meeting.close(t, Some(CallOutcome::AdviceGiven))), "outcome");
}
