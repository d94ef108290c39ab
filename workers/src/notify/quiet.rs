//! Quiet hours in the recipient's time zone: whether a moment falls inside
//! the window and when the window ends, correct across DST changes.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The end of the quiet window containing `now`, or None when `now` is outside it.
/// `start`/`end` are minutes after local midnight; the window may wrap midnight.
pub fn window_end(now: DateTime<Utc>, tz: Tz, start: i32, end: i32) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&tz);
    let minute = i32::try_from(
        local
            .time()
            .signed_duration_since(NaiveTime::MIN)
            .num_minutes(),
    )
    .unwrap_or(0);
    let inside = if start < end {
        minute >= start && minute < end
    } else {
        minute >= start || minute < end
    };
    if !inside {
        return None;
    }
    let today = local.date_naive();
    let end_day = if start < end || minute < end {
        today
    } else {
        today.succ_opt().unwrap_or(today)
    };
    Some(at_local(tz, end_day, end))
}

/// The instant of local `minutes` after midnight on `day` in `tz`. A time
/// skipped by a DST change resolves to the first valid instant after it; an
/// ambiguous one to the earlier instant.
pub fn at_local(tz: Tz, day: NaiveDate, minutes: i32) -> DateTime<Utc> {
    let naive = day.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(minutes));
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => {
            // In a spring-forward gap: step forward until the local time exists.
            (1..=180)
                .find_map(|m| {
                    tz.from_local_datetime(&(naive + Duration::minutes(m)))
                        .earliest()
                })
                .map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc))
        }
    }
}

/// The recipient's local day (`YYYY-MM-DD`), which the daily cap counts by.
pub fn local_day(now: DateTime<Utc>, tz: Tz) -> String {
    now.with_timezone(&tz)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn window_wrapping_midnight_in_two_time_zones() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        // 22:00-07:00. 21:30 UTC in January is 22:30 in Paris (quiet), 06:30 in Tokyo (quiet).
        let now = utc("2026-01-15T21:30:00Z");
        assert_eq!(
            window_end(now, paris, 22 * 60, 7 * 60),
            Some(utc("2026-01-16T06:00:00Z"))
        );
        assert_eq!(
            window_end(now, tokyo, 22 * 60, 7 * 60),
            Some(utc("2026-01-15T22:00:00Z"))
        );
        // 12:00 UTC: afternoon in Paris, night in Tokyo (21:00) just before the window.
        assert_eq!(
            window_end(utc("2026-01-15T12:00:00Z"), paris, 22 * 60, 7 * 60),
            None
        );
        assert_eq!(
            window_end(utc("2026-01-15T12:00:00Z"), tokyo, 22 * 60, 7 * 60),
            None
        );
        // A same-day window 13:00-14:00.
        assert_eq!(
            window_end(utc("2026-01-15T12:30:00Z"), paris, 13 * 60, 14 * 60),
            Some(utc("2026-01-15T13:00:00Z"))
        );
    }

    #[test]
    fn dst_change_days() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        // Spring forward on 2026-03-29: 23:00 local on the 28th is UTC+1, 07:00 on the 29th is UTC+2.
        let now = utc("2026-03-28T22:30:00Z"); // 23:30 local
        assert_eq!(
            window_end(now, paris, 22 * 60, 7 * 60),
            Some(utc("2026-03-29T05:00:00Z"))
        );
        // Fall back on 2026-10-25: 07:00 local is UTC+1 again.
        let now = utc("2026-10-24T21:00:00Z"); // 23:00 local (UTC+2)
        assert_eq!(
            window_end(now, paris, 22 * 60, 7 * 60),
            Some(utc("2026-10-25T06:00:00Z"))
        );
        // A window ending at 02:30, inside the spring gap: resolves to 03:00 local (01:00 UTC).
        let now = utc("2026-03-28T23:30:00Z"); // 00:30 local
        assert_eq!(
            window_end(now, paris, 0, 2 * 60 + 30),
            Some(utc("2026-03-29T01:00:00Z"))
        );
    }

    #[test]
    fn local_day_follows_the_time_zone() {
        let now = utc("2026-01-15T23:30:00Z");
        assert_eq!(
            local_day(now, "Europe/Paris".parse().unwrap()),
            "2026-01-16"
        );
        assert_eq!(
            local_day(now, "America/New_York".parse().unwrap()),
            "2026-01-15"
        );
    }
}
