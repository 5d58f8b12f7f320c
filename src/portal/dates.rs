//! The portal's `ApiDateTime`: parsing what it sends and formatting what it accepts.
//!
//! On the wire it is a string with seven fractional digits and `Z` or a
//! `±hh:mm` tenant offset; old documents show an object
//! `{utcTime, timeZoneOffset}` and hyphenated times, which are accepted too.

use chrono::{
    DateTime, Datelike as _, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc,
};
use serde::Deserialize;

/// A date-time as the portal sent it: either the wire string or the documented object.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiDateTime {
    /// `2025-01-15T12:00:00.0000000+03:00`, the real wire form.
    Text(String),
    /// `{utcTime, timeZoneOffset}`, the documented form; keys are lower-cased before this.
    Object {
        /// The instant in UTC.
        utctime: String,
        /// The tenant offset, `hh:mm:ss` or `-hh:mm:ss`.
        timezoneoffset: Option<String>,
    },
}

/// Read straight from the token: an `untagged` enum would buffer each value
/// before trying its variants.
impl<'de> Deserialize<'de> for ApiDateTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The documented object form.
        #[derive(Deserialize)]
        struct Object {
            utctime: String,
            #[serde(default)]
            timezoneoffset: Option<String>,
        }

        struct DateVisitor;

        impl<'de> serde::de::Visitor<'de> for DateVisitor {
            type Value = ApiDateTime;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a date-time string or a {utcTime, timeZoneOffset} object")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ApiDateTime, E> {
                Ok(ApiDateTime::Text(text.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<ApiDateTime, E> {
                Ok(ApiDateTime::Text(text))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ApiDateTime, A::Error> {
                let object =
                    Object::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ApiDateTime::Object {
                    utctime: object.utctime,
                    timezoneoffset: object.timezoneoffset,
                })
            }
        }

        deserializer.deserialize_any(DateVisitor)
    }
}

/// A parsed portal date: the local wall time as written and, when known, its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalDate {
    local: NaiveDateTime,
    offset: Option<FixedOffset>,
}

impl PortalDate {
    /// The calendar date the portal means by a birthday or start date, as
    /// every read shows it. Both products store the tenant's wall-clock time
    /// W (midnight on Workspace, the noon the gateway sends on DocSpace, any
    /// time for dates the portal set itself) and, reading it back, take W for
    /// UTC and show it in tenant time (DS@v3.6.1-server:common/ASC.Api.Core/
    /// Core/ApiDateTime.cs:130-158, "Assume it's utc" at 150; CS@7c503dfb5:
    /// module/ASC.Api/ASC.Specific/ApiDateTime.cs:112-144). So the day is the
    /// date of the instant in UTC, on every offset from -12:00 to +14:00. A
    /// value without an offset names its own date.
    ///
    /// The answer to the write that set a date is the exception: it is built
    /// from the user in memory, whose date still names the tenant's wall clock
    /// (DS@v3.6.1-server:products/ASC.People/Server/Api/UserController.cs:1907,
    /// CS@7c503dfb5:module/ASC.Api/ASC.Employee/EmployeeApi.cs:837), so such a
    /// write is read again rather than read with this rule.
    pub fn calendar_date(&self) -> NaiveDate {
        match (self.offset, self.instant()) {
            (Some(_), Some(instant)) => instant.date_naive(),
            _ => self.local.date(),
        }
    }

    /// The offset the portal wrote, i.e. its tenant's at that instant.
    pub fn offset(&self) -> Option<FixedOffset> {
        self.offset
    }

    /// The instant; a string without an offset is tenant-local time with an
    /// unknown offset, taken as UTC. `None` when it falls outside the calendar.
    pub fn instant(&self) -> Option<DateTime<Utc>> {
        let offset_seconds = self.offset.map_or(0, |offset| offset.local_minus_utc());
        self.local
            .checked_sub_signed(TimeDelta::seconds(i64::from(offset_seconds)))
            .map(|utc| utc.and_utc())
    }
}

impl ApiDateTime {
    /// Parses the value; `None` for the portal's "no date"
    /// (`0001-01-01T00:00:00.0000000Z`) and for text it cannot read.
    pub fn parse(&self) -> Option<PortalDate> {
        let date = match self {
            ApiDateTime::Text(text) => parse_text(text)?,
            ApiDateTime::Object {
                utctime,
                timezoneoffset,
            } => {
                let utc = parse_text(utctime)?;
                let offset = timezoneoffset.as_deref().and_then(parse_time_span);
                match offset {
                    Some(offset) => PortalDate {
                        local: utc.instant()?.naive_utc().checked_add_signed(
                            TimeDelta::seconds(i64::from(offset.local_minus_utc())),
                        )?,
                        offset: Some(offset),
                    },
                    None => utc,
                }
            }
        };
        // .NET's DateTime.MinValue is how the portal writes "no date".
        (date.local.date().year() > 1).then_some(date)
    }
}

fn parse_text(text: &str) -> Option<PortalDate> {
    let text = text.trim();
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return Some(PortalDate {
            local: parsed.naive_local(),
            offset: Some(*parsed.offset()),
        });
    }
    // The documented hyphenated time (`2008-04-10T06-30-00.000Z`): make it RFC 3339.
    if let Some((date, time)) = text.split_once('T') {
        let (clock, zone) = split_zone(time);
        if clock.contains('-') && !clock.contains(':') {
            let fixed = format!("{date}T{}{zone}", clock.replacen('-', ":", 2));
            if let Ok(parsed) = DateTime::parse_from_rfc3339(&fixed) {
                return Some(PortalDate {
                    local: parsed.naive_local(),
                    offset: Some(*parsed.offset()),
                });
            }
        }
        let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
        return Some(PortalDate {
            local,
            offset: None,
        });
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(PortalDate {
        local: date.and_time(NaiveTime::MIN),
        offset: None,
    })
}

/// Splits `06-30-00.000Z` or `06-30-00+03:00` into clock and zone.
fn split_zone(time: &str) -> (&str, &str) {
    if let Some(clock) = time.strip_suffix('Z') {
        return (clock, "Z");
    }
    let split = time.len().saturating_sub(6);
    if let (Some(clock), Some(zone)) = (time.get(..split), time.get(split..))
        && !clock.is_empty()
        && zone.starts_with(['+', '-'])
        && zone.as_bytes().get(3) == Some(&b':')
    {
        return (clock, zone);
    }
    (time, "")
}

/// Parses a .NET TimeSpan offset such as `03:00:00` or `-05:30:00`.
fn parse_time_span(text: &str) -> Option<FixedOffset> {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let mut parts = rest.split(':');
    let hours: i64 = parts.next()?.parse().ok()?;
    let minutes: i64 = parts.next().unwrap_or("0").parse().ok()?;
    let seconds = hours
        .checked_mul(3600)?
        .checked_add(minutes.checked_mul(60)?)?;
    FixedOffset::east_opt(i32::try_from(sign * seconds).ok()?)
}

/// Formats a calendar date the way both products parse it: `yyyy-MM-dd`,
/// read by the portal as tenant-local midnight.
pub fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// A calendar date as the instant of noon in the tenant's time zone, written
/// in UTC (`2025-01-15T09:00:00.000Z` at +03:00), for DocSpace, whose JSON
/// readers take a bare date in the server's zone rather than the tenant's.
/// The portal stores the tenant's wall clock of that instant, noon of the
/// day, which reads back as that day on every offset. UTC because 3.0 to
/// 3.2 move a value with an offset into the server's zone before calling it
/// UTC, but keep a `Z` value exact (System.Text.Json `TryGetDateTime`);
/// 3.5 and 3.6 read either exactly (`DateTimeOffset.TryParse`,
/// DS@v3.6.1-server:common/ASC.Api.Core/Core/ApiDateTime.cs:385-404).
pub fn format_tenant_noon(date: NaiveDate, tenant_offset: Option<FixedOffset>) -> String {
    let offset = tenant_offset.map_or(0, |offset| offset.local_minus_utc());
    let noon = date.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(NaiveTime::MIN))
        - TimeDelta::seconds(i64::from(offset));
    format!("{}Z", noon.format("%Y-%m-%dT%H:%M:%S%.3f"))
}

/// The date Workspace treats as "clear this date".
pub const WORKSPACE_CLEAR_DATE: &str = "1900-01-01";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_noon_is_sent_as_its_utc_instant() {
        let date = NaiveDate::from_ymd_opt(1985, 4, 11).unwrap();
        assert_eq!(
            format_tenant_noon(date, FixedOffset::east_opt(3 * 3600)),
            "1985-04-11T09:00:00.000Z"
        );
        assert_eq!(
            format_tenant_noon(date, FixedOffset::west_opt(5 * 3600 + 1800)),
            "1985-04-11T17:30:00.000Z"
        );
        assert_eq!(
            format_tenant_noon(date, FixedOffset::east_opt(14 * 3600)),
            "1985-04-10T22:00:00.000Z"
        );
        assert_eq!(format_tenant_noon(date, None), "1985-04-11T12:00:00.000Z");
    }

    /// What a read shows for a day the portal stored at wall-clock `time` on
    /// a tenant `offset_minutes` east of UTC: the wall clock taken for UTC,
    /// shown in tenant time.
    fn shown(date: NaiveDate, time: NaiveTime, offset_minutes: i32) -> String {
        let offset = FixedOffset::east_opt(offset_minutes * 60).unwrap();
        let instant = date.and_time(time).and_utc().with_timezone(&offset);
        instant.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
    }

    #[test]
    fn the_stored_day_reads_back_on_every_offset_and_time_of_day() {
        let day = NaiveDate::from_ymd_opt(1990, 6, 7).unwrap();
        let offsets = [
            -12 * 60,
            -11 * 60,
            -9 * 60 - 30,
            -5 * 60,
            -60,
            0,
            60,
            180,
            5 * 60 + 30,
            5 * 60 + 45,
            9 * 60 + 30,
            12 * 60,
            12 * 60 + 45,
            13 * 60,
            13 * 60 + 45,
            14 * 60,
        ];
        let times = [
            NaiveTime::MIN,
            NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(23, 59, 30).unwrap(),
            NaiveTime::from_hms_opt(9, 41, 7).unwrap(),
        ];
        for offset in offsets {
            for time in times {
                let wire = shown(day, time, offset);
                assert_eq!(
                    text(&wire).parse().unwrap().calendar_date(),
                    day,
                    "{wire} (stored {time} at {offset} minutes)"
                );
            }
        }
    }

    fn text(value: &str) -> ApiDateTime {
        ApiDateTime::Text(value.into())
    }

    #[test]
    fn wire_form_with_offset_keeps_its_instant() {
        let parsed = text("2025-01-15T01:30:00.0000000+03:00").parse().unwrap();
        assert_eq!(
            parsed.calendar_date(),
            NaiveDate::from_ymd_opt(2025, 1, 14).unwrap()
        );
        assert_eq!(
            parsed.instant().unwrap().to_rfc3339(),
            "2025-01-14T22:30:00+00:00"
        );
    }

    #[test]
    fn workspace_birthday_shift_keeps_the_stored_day_on_both_sides_of_utc() {
        let june_7 = NaiveDate::from_ymd_opt(1990, 6, 7).unwrap();
        for shifted in [
            "1990-06-07T03:00:00.0000000+03:00",
            "1990-06-06T19:00:00.0000000-05:00",
            "1990-06-07T00:00:00.0000000Z",
        ] {
            assert_eq!(
                text(shifted).parse().unwrap().calendar_date(),
                june_7,
                "{shifted}"
            );
        }
        // Without an offset, the value names its own day.
        let bare = text("1990-06-07T00:00:00.0000000").parse().unwrap();
        assert_eq!(bare.calendar_date(), june_7);
    }

    #[test]
    fn hostile_portal_dates_never_panic() {
        let nasty = [
            "1990-01-01T\u{e9}12345",
            "1990-01-01Té12345",
            "1990-01-01Tééééééé",
            "T",
            "-",
            "9999-12-31T23:59:59.9999999-23:59",
            "0001-01-01T00:00:00.0000000+14:00",
            "2000-01-01T00-00-00+99:99",
            "",
            "2000-13-45",
        ];
        for value in nasty {
            if let Some(parsed) = text(value).parse() {
                let _ = (parsed.calendar_date(), parsed.instant());
            }
        }
        for offset in [
            "99999999999:00:00",
            "-2147483648:00:00",
            "x",
            "",
            "03:99999999999",
        ] {
            let object = ApiDateTime::Object {
                utctime: "0001-01-01T00:30:00.0000000Z".into(),
                timezoneoffset: Some(offset.into()),
            };
            let _ = object.parse();
        }
        let edge = ApiDateTime::Object {
            utctime: "0002-01-01T00:30:00.0000000Z".into(),
            timezoneoffset: Some("-23:00:00".into()),
        };
        let _ = edge.parse();
    }

    #[test]
    fn zero_date_means_unset() {
        assert_eq!(text("0001-01-01T00:00:00.0000000Z").parse(), None);
    }

    #[test]
    fn documented_variants_parse() {
        let hyphenated = text("2008-04-10T06-30-00.000Z").parse().unwrap();
        assert_eq!(
            hyphenated.instant().unwrap().to_rfc3339(),
            "2008-04-10T06:30:00+00:00"
        );
        let object = ApiDateTime::Object {
            utctime: "2012-01-31T20:00:00.0000000Z".into(),
            timezoneoffset: Some("03:00:00".into()),
        };
        let parsed = object.parse().unwrap();
        assert_eq!(
            parsed.calendar_date(),
            NaiveDate::from_ymd_opt(2012, 1, 31).unwrap()
        );
        assert_eq!(
            parsed.instant().unwrap().to_rfc3339(),
            "2012-01-31T20:00:00+00:00"
        );
        assert!(text("2012-01-31").parse().is_some());
        assert_eq!(text("not a date").parse(), None);
    }

    #[test]
    fn dates_are_sent_as_plain_calendar_dates() {
        assert_eq!(
            format_date(NaiveDate::from_ymd_opt(1985, 4, 10).unwrap()),
            "1985-04-10"
        );
    }
}
