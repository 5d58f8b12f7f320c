//! `ApiDateTime` as the portals put it on the wire: tenant-local wall time with seven fractional
//! digits and an offset, and the exact-format parser both portals use for input.

use chrono::{
    DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, Timelike, Utc,
};

use std::cell::Cell;

use super::seed::TENANT_OFFSET_MINUTES;

thread_local! {
    /// The tenant offset of the request being handled.
    // why: the offset is per simulator, but these helpers are called deep inside
    // rendering and binding; handling is synchronous under the portal lock, so a
    // value set on this thread for the duration of one request is exact.
    static CURRENT_OFFSET_MINUTES: Cell<i32> = const { Cell::new(TENANT_OFFSET_MINUTES) };
}

/// Runs `handle` with the given tenant offset in force.
pub(crate) fn with_tenant_offset<T>(minutes: i32, handle: impl FnOnce() -> T) -> T {
    let previous = CURRENT_OFFSET_MINUTES.with(|current| current.replace(minutes));
    let result = handle();
    CURRENT_OFFSET_MINUTES.with(|current| current.set(previous));
    result
}

/// The tenant's time zone (UTC+3 unless a test sets another).
fn tenant_offset() -> FixedOffset {
    let minutes = CURRENT_OFFSET_MINUTES.with(Cell::get);
    FixedOffset::east_opt(minutes * 60).unwrap_or(Utc.fix())
}

/// `yyyy-MM-ddTHH:mm:ss.fffffff` in tenant time, then `Z` for a zero offset or `+hh:mm`.
pub(crate) fn format_instant(instant: DateTime<Utc>) -> String {
    let offset = tenant_offset();
    let local = instant.with_timezone(&offset);
    // why: a leap second is reported as nanosecond >= 1e9; .NET has no such value.
    let ticks = local.nanosecond().min(999_999_999) / 100;
    format!(
        "{}.{ticks:07}{}",
        local.format("%Y-%m-%dT%H:%M:%S"),
        offset_suffix(offset.local_minus_utc())
    )
}

/// A stored birthday or workFrom as every read shows it: both products store the tenant's wall
/// clock W, read it back with no kind, and `ApiDateTime.SetDate` takes that for UTC and shows it
/// in tenant time (DS@v3.6.1-server:common/ASC.Api.Core/Core/ApiDateTime.cs:130-158, "Assume
/// it's utc" at 150; CS@7c503dfb5:module/ASC.Api/ASC.Specific/ApiDateTime.cs:112-144): Workspace's
/// `1990-06-07` (stored as tenant midnight) shows as `1990-06-07T03:00:00.0000000+03:00`.
pub(crate) fn format_stored_date(wall_clock: NaiveDateTime) -> String {
    format_instant(wall_clock.and_utc())
}

/// A birthday or workFrom in the answer to the write that set it: the user in memory still holds
/// W as tenant-local time, so it shows as W with the tenant's offset
/// (DS@v3.6.1-server:products/ASC.People/Server/Api/UserController.cs:1907,
/// CS@7c503dfb5:module/ASC.Api/ASC.Employee/EmployeeApi.cs:837).
pub(crate) fn format_date_as_set(wall_clock: NaiveDateTime) -> String {
    let offset = tenant_offset();
    format!(
        "{}.0000000{}",
        wall_clock.format("%Y-%m-%dT%H:%M:%S"),
        offset_suffix(offset.local_minus_utc())
    )
}

fn offset_suffix(seconds: i32) -> String {
    if seconds == 0 {
        return "Z".to_owned();
    }
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The zone an input string carried.
enum Zone {
    Utc,
    Offset(FixedOffset),
    TenantLocal,
}

/// `ApiDateTime.Parse`: the exact formats `yyyy-MM-dd`, and `yyyy-MM-ddTHH:mm:ss` or
/// `yyyy-MM-ddTHH-mm-ss` with none, 3 or 7 fractional digits, each followed by `Z`, `±hh:mm` or
/// nothing (then tenant-local time). Returns the instant in UTC.
pub(crate) fn parse_api_datetime(text: &str) -> Result<DateTime<Utc>, String> {
    let invalid = || format!("invalid date time format: {text}");
    if text.chars().count() < 7 {
        return Err(invalid());
    }
    let (body, zone) = split_zone(text);
    let local = parse_wall_time(body, matches!(zone, Zone::TenantLocal)).ok_or_else(invalid)?;
    let offset = match zone {
        Zone::Utc => return Ok(local.and_utc()),
        Zone::Offset(offset) => offset,
        Zone::TenantLocal => tenant_offset(),
    };
    let utc = local - Duration::seconds(i64::from(offset.local_minus_utc()));
    Ok(utc.and_utc())
}

/// `DateTimeOffset.TryParse` on a server whose zone is UTC: a string with `Z` or an offset is
/// that instant, one without is UTC wall time; `None` when it cannot be read.
pub(crate) fn parse_server_local(text: &str) -> Option<DateTime<Utc>> {
    let (body, zone) = split_zone(text.trim());
    let local = parse_wall_time(body, true)?;
    let offset = match zone {
        Zone::Offset(offset) => offset.local_minus_utc(),
        Zone::Utc | Zone::TenantLocal => 0,
    };
    Some((local - Duration::seconds(i64::from(offset))).and_utc())
}

/// The tenant's wall clock an instant names, which both products store with its time of day
/// (`TenantUtil.DateTimeFromUtc`, no `.Date`); exactly `1900-01-01T00:00` local is their "clear
/// this date" (CS EmployeeApi.cs:767-780; DS@v3.6.1 UserController.cs:1807-1823).
pub(crate) fn wall_clock_or_reset(instant: DateTime<Utc>) -> Option<NaiveDateTime> {
    let local = tenant_local(instant);
    let reset = NaiveDate::from_ymd_opt(1900, 1, 1).map(|date| date.and_time(NaiveTime::MIN));
    (Some(local) != reset).then_some(local)
}

/// Tenant-local calendar date of an instant (what Workspace keeps for birthday/workFrom).
pub(crate) fn tenant_local(instant: DateTime<Utc>) -> NaiveDateTime {
    instant.with_timezone(&tenant_offset()).naive_local()
}

fn split_zone(text: &str) -> (&str, Zone) {
    if let Some(body) = text.strip_suffix('Z') {
        return (body, Zone::Utc);
    }
    let split = text.len().saturating_sub(6);
    if let (Some(body), Some(tail)) = (text.get(..split), text.get(split..))
        && let Some(offset) = parse_offset(tail)
    {
        return (body, Zone::Offset(offset));
    }
    (text, Zone::TenantLocal)
}

/// `+hh:mm` or `-hh:mm`.
fn parse_offset(tail: &str) -> Option<FixedOffset> {
    let bytes = tail.as_bytes();
    if bytes.len() != 6 || bytes[3] != b':' {
        return None;
    }
    let sign = match bytes[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours: i32 = digits(tail.get(1..3)?)?;
    let minutes: i32 = digits(tail.get(4..6)?)?;
    if hours > 14 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

fn digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

fn parse_wall_time(body: &str, date_only_allowed: bool) -> Option<NaiveDateTime> {
    let date = NaiveDate::parse_from_str(body.get(..10)?, "%Y-%m-%d").ok()?;
    if body.len() == 10 {
        // why: the bare `yyyy-MM-dd` format has no `K`, so it never carries a zone.
        return date_only_allowed.then(|| date.and_time(NaiveTime::MIN));
    }
    let time = body.get(10..)?.strip_prefix('T')?;
    let clock = time.get(..8)?;
    let separator = clock.as_bytes().get(2).copied()?;
    if separator != b':' && separator != b'-' || clock.as_bytes().get(5) != Some(&separator) {
        return None;
    }
    let hour: u32 = digits(clock.get(0..2)?)?;
    let minute: u32 = digits(clock.get(3..5)?)?;
    let second: u32 = digits(clock.get(6..8)?)?;
    let fraction = time.get(8..)?;
    let nanos = match fraction.len() {
        0 => 0,
        4 | 8 => {
            let digits_text = fraction.strip_prefix('.')?;
            let value: u32 = digits(digits_text)?;
            if digits_text.len() == 3 {
                value * 1_000_000
            } else {
                value * 100
            }
        }
        _ => return None,
    };
    let clock = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(clock))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn instants_render_with_seven_digits_in_tenant_time() {
        let instant = Utc.with_ymd_and_hms(2025, 1, 15, 9, 0, 0).single();
        let rendered = instant.map(format_instant);
        assert_eq!(
            rendered.as_deref(),
            Some("2025-01-15T12:00:00.0000000+03:00")
        );
    }

    #[test]
    fn stored_dates_read_as_utc_and_show_as_set_when_just_written() {
        let midnight =
            NaiveDate::from_ymd_opt(1990, 6, 7).map(|date| date.and_time(NaiveTime::MIN));
        assert_eq!(
            midnight.map(format_stored_date).as_deref(),
            Some("1990-06-07T03:00:00.0000000+03:00")
        );
        assert_eq!(
            midnight.map(format_date_as_set).as_deref(),
            Some("1990-06-07T00:00:00.0000000+03:00")
        );
    }

    #[test]
    fn every_documented_input_format_parses() {
        let expected = Utc.with_ymd_and_hms(2008, 4, 10, 6, 30, 0).single();
        for text in [
            "2008-04-10T06:30:00.0000000Z",
            "2008-04-10T06-30-00.0000000Z",
            "2008-04-10T06-30-00.000Z",
            "2008-04-10T06:30:00.000Z",
            "2008-04-10T06-30-00Z",
            "2008-04-10T06:30:00Z",
            "2008-04-10T09:30:00+03:00",
            "2008-04-10T09:30:00",
        ] {
            assert_eq!(parse_api_datetime(text).ok(), expected, "{text}");
        }
    }

    #[test]
    fn a_bare_date_is_tenant_local_midnight() {
        let expected = Utc.with_ymd_and_hms(1990, 6, 6, 21, 0, 0).single();
        assert_eq!(parse_api_datetime("1990-06-07").ok(), expected);
    }

    #[test]
    fn malformed_dates_are_rejected_with_the_portal_message() {
        for text in ["", "2008", "10/04/2008", "2008-04-10T06:30", "2008-04-10Z"] {
            assert_eq!(
                parse_api_datetime(text),
                Err(format!("invalid date time format: {text}"))
            );
        }
    }
}
