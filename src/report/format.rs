//! Numbers, durations and dates as a person reads them in the report.

/// A number with about three significant digits: `0`, `0.0123`, `12.3`, `1234`, `1.2e-5`, `3.4e6`.
/// Non-finite values are spelled out (`NaN`, `∞`, `−∞`).
pub fn number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        // "1.20e-5" → "1.2e-5", "3.00e6" → "3e6"
        return match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", trim_zeros(m)),
            None => s,
        };
    }
    let digits_before_point = a.log10().floor() as i32 + 1;
    let decimals = (3 - digits_before_point).clamp(0, 6) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

/// `1.500` → `1.5`, `2.000` → `2`; strings without a decimal point are unchanged.
fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// A share in [0, 1] as a percentage: `0.123` → `12.3 %`, `0.0004` → `0.04 %`.
pub fn percent(share: f64) -> String {
    format!("{} %", number(share * 100.0))
}

/// Seconds as `0.42 s`, `12.3 s`, `2 min 05 s`, `1 h 02 min`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "unknown".into();
    }
    if seconds < 60.0 {
        return format!("{} s", number(seconds));
    }
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{} h {:02} min", whole / 3600, (whole % 3600) / 60)
    }
}

/// Unix seconds as a UTC date and time, `2024-03-01 14:05 UTC`.
pub fn utc_datetime(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let rem = unix_seconds % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// An integer with comma thousands separators: `1234567` → `1,234,567`.
pub fn integer(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 row`, `2,500 rows`.
pub fn rows(n: u64) -> String {
    if n == 1 {
        "1 row".into()
    } else {
        format!("{} rows", integer(n))
    }
}

/// `name` cut to at most `max` characters, with `…` marking the cut.
pub fn truncate(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let mut s: String = name.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_three_significant_digits() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1.0), "1");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(-0.012345), "-0.0123");
        assert_eq!(number(1234.6), "1235");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(1.2e-5), "1.2e-5");
        assert_eq!(number(3.0e6), "3e6");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::NEG_INFINITY), "−∞");
    }

    #[test]
    fn percent_and_duration() {
        assert_eq!(percent(0.123), "12.3 %");
        assert_eq!(duration(0.4213), "0.421 s");
        assert_eq!(duration(125.0), "2 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
        assert_eq!(duration(f64::NAN), "unknown");
    }

    #[test]
    fn dates_match_known_days() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00 UTC");
        // 2000-02-29 is a leap day; 951782400 = 2000-02-29T00:00:00Z.
        assert_eq!(utc_datetime(951_782_400 + 3_660), "2000-02-29 01:01 UTC");
        // 1709301900 = 2024-03-01T14:05:00Z.
        assert_eq!(utc_datetime(1_709_301_900), "2024-03-01 14:05 UTC");
    }

    #[test]
    fn integers_and_rows() {
        assert_eq!(integer(0), "0");
        assert_eq!(integer(999), "999");
        assert_eq!(integer(1000), "1,000");
        assert_eq!(integer(1_234_567), "1,234,567");
        assert_eq!(rows(1), "1 row");
        assert_eq!(rows(2500), "2,500 rows");
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("amount", 10), "amount");
        assert_eq!(truncate("a_very_long_feature_name", 8), "a_very_…");
    }
}
