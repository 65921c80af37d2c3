//! `resource.Quantity`: the syntax and its value.

use serde_json::Value;

use super::go_format::scalar_text;

/// The quantity format Kubernetes accepts.
pub(super) const QUANTITY_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// A resource quantity in nano-units (rounded up, saturating), or `None` when malformed.
pub fn parse_quantity(s: &str) -> Option<i128> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'+') => (false, s.get(1..)?),
        Some(b'-') => (true, s.get(1..)?),
        _ => (false, s),
    };
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (num, suffix) = rest.split_at(end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    let (exp10, exp2): (i64, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        s if s.starts_with('e') || s.starts_with('E') => {
            let digits = s.get(1..)?;
            let body = digits.strip_prefix(['+', '-']).unwrap_or(digits);
            if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (digits.parse::<i64>().ok()?, 0)
        }
        _ => return None,
    };
    let mut digits: String = format!("{int_part}{frac_part}")
        .trim_start_matches('0')
        .to_string();
    let mut scale = exp10
        .saturating_sub(frac_part.len() as i64)
        .saturating_add(9);
    if digits.len() > 30 {
        // Beyond 30 significant digits, approximate (nothing real needs that precision).
        scale = scale.saturating_add((digits.len() - 31) as i64);
        digits.truncate(30);
        digits.push('1');
    }
    let mut m: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    m = m.saturating_mul(1i128 << exp2);
    if scale >= 0 {
        for _ in 0..scale.min(60) {
            m = m.saturating_mul(10);
        }
    } else if m != 0 {
        let div_exp = scale.saturating_neg().min(39);
        let mut d: i128 = 1;
        for _ in 0..div_exp {
            d = d.saturating_mul(10);
        }
        m = if div_exp >= 39 {
            1
        } else {
            m / d + i128::from(m % d != 0)
        };
    }
    Some(if neg { -m } else { m })
}

pub(super) fn quantity_text(v: &Value) -> String {
    scalar_text(v)
}
