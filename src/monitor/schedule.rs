//! Schedules of jobs and alert rules: `{"every": "5m"}` or
//! `{"cron": "0 * * * *"}` (UTC). A schedule is a sequence of *slots*
//! (the scheduled times); runs are keyed by their slot, which is how a
//! restart knows which slot already ran.
//!
//! ```
//! use voidx::monitor::schedule::{Schedule, parse_duration_ms};
//! let s = Schedule::every("5m").unwrap();
//! assert_eq!(s.next_after(0).unwrap(), 300_000);
//! assert_eq!(parse_duration_ms("1.5s").unwrap(), 1500);
//! ```

use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::Cron;

use crate::error::{Result, VoidxError};

#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every `n` milliseconds, slots aligned to the Unix epoch.
    Every(i64),
    Cron(Box<Cron>, String),
}

impl Schedule {
    pub fn every(text: &str) -> Result<Schedule> {
        let ms = parse_duration_ms(text)?;
        if ms < 100 {
            return Err(VoidxError::InvalidArgument(format!(
                "schedule every '{text}' is shorter than 100 ms. Help: {{\"every\": \"5m\"}}"
            )));
        }
        Ok(Schedule::Every(ms))
    }

    pub fn cron(text: &str) -> Result<Schedule> {
        let cron = Cron::from_str(text).map_err(|e| {
            VoidxError::InvalidArgument(format!(
                "cron '{text}': {e}. Help: five fields, minute hour day month weekday, e.g. \"0 * * * *\" (UTC)"
            ))
        })?;
        Ok(Schedule::Cron(Box::new(cron), text.to_string()))
    }

    /// From an options object: `every` or `cron` (exactly one).
    pub fn from_options(options: &serde_json::Value, what: &str) -> Result<Schedule> {
        let every = options.get("every").and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(format!("{n}s")),
            _ => None,
        });
        let cron = options.get("cron").and_then(|v| v.as_str());
        match (every, cron) {
            (Some(e), None) => Schedule::every(&e),
            (None, Some(c)) => Schedule::cron(c),
            _ => Err(VoidxError::InvalidArgument(format!(
                "{what} needs a schedule: either \"every\" or \"cron\". Help: '{{\"every\": \"5m\"}}' or '{{\"cron\": \"0 * * * *\"}}'"
            ))),
        }
    }

    /// The text stored in `voidx.jobs` / `voidx.alert_rules`.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Every(ms) => format!("every {}", format_duration_ms(*ms)),
            Schedule::Cron(_, text) => format!("cron {text}"),
        }
    }

    /// Back from [`Schedule::describe`].
    pub fn parse_described(text: &str) -> Result<Schedule> {
        match text.split_once(' ') {
            Some(("every", rest)) => Schedule::every(rest),
            Some(("cron", rest)) => Schedule::cron(rest),
            _ => Err(VoidxError::Internal(format!("unknown schedule '{text}'"))),
        }
    }

    /// The first slot strictly after `t_ms`.
    pub fn next_after(&self, t_ms: i64) -> Result<i64> {
        match self {
            // Checked: an instant near i64::MAX has no next slot.
            Schedule::Every(every) => t_ms
                .div_euclid(*every)
                .checked_add(1)
                .and_then(|n| n.checked_mul(*every))
                .ok_or_else(|| {
                    VoidxError::InvalidArgument(format!(
                        "no slot of every {} ms after {t_ms} fits in a timestamp. Help: use a shorter interval",
                        every
                    ))
                }),
            Schedule::Cron(cron, text) => {
                let t = DateTime::<Utc>::from_timestamp_millis(t_ms)
                    .ok_or_else(|| VoidxError::Internal(format!("time {t_ms} is out of range")))?;
                let next = cron
                    .find_next_occurrence(&t, false)
                    .map_err(|e| VoidxError::Internal(format!("cron '{text}': {e}")))?;
                Ok(next.timestamp_millis())
            }
        }
    }

    /// The latest slot at or before `now_ms` that comes after `after_ms`
    /// (a restart after a long stop runs the missed work once, not once per
    /// missed slot). `None` when no slot is due.
    pub fn due(&self, after_ms: i64, now_ms: i64) -> Result<Option<i64>> {
        let mut slot = self.next_after(after_ms)?;
        if slot > now_ms {
            return Ok(None);
        }
        if let Schedule::Every(every) = self {
            return Ok(Some(now_ms.div_euclid(*every) * every));
        }
        // Cron: walk forward (bounded) to the latest slot not in the future.
        for _ in 0..10_000 {
            let next = self.next_after(slot)?;
            if next > now_ms {
                break;
            }
            slot = next;
        }
        Ok(Some(slot))
    }

    /// The nominal interval, for staleness (cron: the gap after `t_ms`).
    pub fn interval_ms(&self, t_ms: i64) -> i64 {
        match self {
            Schedule::Every(ms) => *ms,
            Schedule::Cron(..) => {
                let a = self.next_after(t_ms).unwrap_or(t_ms);
                let b = self.next_after(a).unwrap_or(a.saturating_add(3_600_000));
                b.saturating_sub(a).max(1000)
            }
        }
    }
}

/// "500ms", "5s", "5m", "2h", "1d", or a bare number of seconds.
pub fn parse_duration_ms(text: &str) -> Result<i64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| bad_duration(text))?;
    let unit_ms = match unit.trim() {
        "ms" => 1.0,
        "" | "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return Err(bad_duration(text)),
    };
    let ms = value * unit_ms;
    if !ms.is_finite() || !(0.0..=1e15).contains(&ms) {
        return Err(bad_duration(text));
    }
    Ok(ms.round() as i64)
}

/// A duration option: a string ("5s") or a number of seconds.
pub fn duration_option(
    options: &serde_json::Value,
    key: &str,
    default_ms: Option<i64>,
) -> Result<Option<i64>> {
    match options.get(key) {
        None | Some(serde_json::Value::Null) => Ok(default_ms),
        Some(serde_json::Value::String(s)) => parse_duration_ms(s).map(Some),
        Some(serde_json::Value::Number(n)) => parse_duration_ms(&format!("{n}")).map(Some),
        Some(other) => Err(bad_duration(&other.to_string())),
    }
}

fn bad_duration(text: &str) -> VoidxError {
    VoidxError::InvalidArgument(format!(
        "'{text}' is not a duration. Help: a number with a unit: \"500ms\", \"30s\", \"5m\", \"2h\", \"1d\""
    ))
}

pub fn format_duration_ms(ms: i64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms % size == 0 && ms >= size {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("5m").unwrap(), 300_000);
        assert_eq!(parse_duration_ms("250ms").unwrap(), 250);
        assert_eq!(parse_duration_ms("2").unwrap(), 2000);
        assert_eq!(parse_duration_ms("1d").unwrap(), 86_400_000);
        assert!(parse_duration_ms("5 parsecs").is_err());
        assert!(parse_duration_ms("").is_err());
        assert_eq!(format_duration_ms(300_000), "5m");
        assert_eq!(format_duration_ms(1500), "1500ms");
    }

    #[test]
    fn every_slots_are_aligned_and_catch_up_once() {
        let s = Schedule::every("10s").unwrap();
        assert_eq!(s.next_after(10_000).unwrap(), 20_000);
        assert_eq!(s.next_after(10_001).unwrap(), 20_000);
        assert_eq!(s.due(10_000, 19_999).unwrap(), None);
        assert_eq!(s.due(10_000, 20_000).unwrap(), Some(20_000));
        // Down for a minute: one run, for the latest slot.
        assert_eq!(s.due(10_000, 75_000).unwrap(), Some(70_000));
        let back = Schedule::parse_described(&s.describe()).unwrap();
        assert_eq!(back.next_after(0).unwrap(), 10_000);
    }

    #[test]
    fn cron_slots() {
        let s = Schedule::cron("0 * * * *").unwrap();
        let hour = 3_600_000;
        assert_eq!(s.next_after(0).unwrap(), hour);
        assert_eq!(s.due(0, 3 * hour + 5).unwrap(), Some(3 * hour));
        assert_eq!(s.interval_ms(0), hour);
        assert!(Schedule::cron("not a cron").is_err());
        let options = serde_json::json!({"cron": "*/5 * * * *"});
        assert_eq!(
            Schedule::from_options(&options, "job")
                .unwrap()
                .next_after(0)
                .unwrap(),
            300_000
        );
        assert!(Schedule::from_options(&serde_json::json!({}), "job").is_err());
    }
}
