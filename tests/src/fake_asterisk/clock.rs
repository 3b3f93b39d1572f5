//! Wall-clock formatting in the shapes Asterisk prints (UTC; the captures were made in UTC).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds and microseconds since the Unix epoch.
pub fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
}

/// `1795666505.295826` (the `Timestamp:` of `Ping`).
pub fn epoch_micros(t: SystemTime) -> String {
    let d = since_epoch(t);
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

/// Civil date (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Broken-down UTC time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// Year.
    pub year: i64,
    /// Month 1-12.
    pub month: u32,
    /// Day 1-31.
    pub day: u32,
    /// Hour.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
    /// Milliseconds.
    pub millis: u32,
    /// Day of the week, 0 = Sunday.
    pub weekday: u32,
}

/// Breaks a time down in UTC.
pub fn civil(t: SystemTime) -> Civil {
    let d = since_epoch(t);
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: (rem % 3600 / 60) as u32,
        second: (rem % 60) as u32,
        millis: d.subsec_millis(),
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as u32,
    }
}

/// `2026-11-26` (CoreStatus dates).
pub fn date(t: SystemTime) -> String {
    let c = civil(t);
    format!("{:04}-{:02}-{:02}", c.year, c.month, c.day)
}

/// `04:12:33` (CoreStatus times).
pub fn time_of_day(t: SystemTime) -> String {
    let c = civil(t);
    format!("{:02}:{:02}:{:02}", c.hour, c.minute, c.second)
}

/// `2026-11-26T04:15:14.978+0000` (security events' `EventTV`, ARI timestamps).
pub fn iso_millis(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
    )
}

/// `Thu, 26 Nov 2026 04:14:25 GMT` (HTTP `Date:`).
pub fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(t);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday as usize % 7],
        c.day,
        MONTHS[(c.month as usize + 11) % 12],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// `00:00:01` (CoreShowChannel `Duration:`).
pub fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_captures() {
        // 1795666505 = Thu, 26 Nov 2026 04:15:05 UTC (fixture 04's Ping timestamp).
        let t = UNIX_EPOCH + Duration::from_micros(1_795_666_505_295_826);
        assert_eq!(epoch_micros(t), "1795666505.295826");
        assert_eq!(date(t), "2026-11-26");
        assert_eq!(time_of_day(t), "04:15:05");
        assert_eq!(iso_millis(t), "2026-11-26T04:15:05.295+0000");
        assert_eq!(http_date(t), "Thu, 26 Nov 2026 04:15:05 GMT");
        assert_eq!(hms(Duration::from_secs(3725)), "01:02:05");
    }
}
