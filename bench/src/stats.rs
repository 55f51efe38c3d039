//! The statistics of the samples, and how the tables write them: every table and every estimate
//! of the benchmark reads its numbers through these.

use std::time::Duration;

/// The value at quantile `q` (nearest rank).
pub(crate) fn quantile(values: &[Duration], q: f64) -> Option<Duration> {
    let mut values = values.to_vec();
    values.sort();
    if values.is_empty() {
        return None;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

pub(crate) fn median(values: &[Duration]) -> Option<Duration> {
    quantile(values, 0.5)
}

pub(crate) fn median_u64(values: &[u64]) -> Option<u64> {
    let mut values = values.to_vec();
    values.sort();
    values.get(values.len().saturating_sub(1) / 2).copied()
}

/// The value of `values` at quantile `q` (nearest rank).
pub(crate) fn quantile_f64(values: &[f64], q: f64) -> Option<f64> {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len().max(1));
    values.get(rank - 1).copied()
}

pub(crate) fn ratio(a: Option<Duration>, b: Option<Duration>) -> Option<f64> {
    Some(a?.as_secs_f64() / b?.as_secs_f64())
}

/// The runs of a process after its first one: the first pays for what the later ones reuse
/// (connections, assumed roles), so the two are reported apart.
pub(crate) fn after_first(runs: &[Duration]) -> &[Duration] {
    &runs[runs.len().min(1)..]
}

/// A time in ms, as the JSON gives it.
pub(crate) fn in_ms(value: Option<Duration>) -> Option<f64> {
    value.map(|d| d.as_secs_f64() * 1000.0)
}

/// A time in µs, as the JSON gives it.
pub(crate) fn in_micros(value: Option<Duration>) -> Option<f64> {
    value.map(|d| d.as_secs_f64() * 1e6)
}

// ----- as the tables write them ----------------------------------------------------------------

pub(crate) fn micros(value: Option<Duration>) -> String {
    value.map(|d| format!("{:.0}", d.as_secs_f64() * 1e6)).unwrap_or_else(|| "–".to_owned())
}

pub(crate) fn ms(value: Option<Duration>) -> String {
    match value {
        None => "–".to_owned(),
        Some(d) => {
            let ms = d.as_secs_f64() * 1000.0;
            if ms < 10.0 {
                format!("{ms:.3}")
            } else if ms < 100.0 {
                format!("{ms:.2}")
            } else {
                format!("{ms:.1}")
            }
        }
    }
}

/// p10–p90 of `values` in ms, in parentheses after a median; nothing for a single value.
pub(crate) fn spread(values: &[Duration]) -> String {
    if values.len() < 2 {
        return String::new();
    }
    format!(" ({}–{})", ms(quantile(values, 0.1)), ms(quantile(values, 0.9)))
}

/// `a - b` in ms, signed (`+0.812`, `-0.031`).
pub(crate) fn difference_ms(a: Option<Duration>, b: Option<Duration>) -> String {
    match a.zip(b) {
        None => "–".to_owned(),
        Some((a, b)) => format!("{:+.3}", (a.as_secs_f64() - b.as_secs_f64()) * 1000.0),
    }
}

pub(crate) fn ratio_text(value: Option<f64>) -> String {
    match value {
        None => "–".to_owned(),
        Some(r) if r < 1.0 && r > 0.0 => format!("{r:.3} (1/{:.0})", 1.0 / r),
        Some(r) => format!("{r:.2}"),
    }
}

/// `yes` or `no`, `–` when there was nothing to judge.
pub(crate) fn met_text(met: Option<bool>) -> &'static str {
    met.map(|met| if met { "yes" } else { "no" }).unwrap_or("–")
}
