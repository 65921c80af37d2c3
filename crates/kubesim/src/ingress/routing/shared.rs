//! What the Ingress side and the HTTPRoute side both use: creation order, element-wise
//! prefix matching, the random draw, host normalisation, query parsing and percent-decoding.

/// Creation order of an object: (seconds, nanoseconds) since the epoch; a missing timestamp sorts
/// first, like Go's zero time.
pub(super) type Created = (i64, i32);
pub(super) const NO_TIMESTAMP: Created = (i64::MIN, 0);

/// `random(n)` reduced into `0..n`; never calls `random` when `n <= 1`.
pub(super) fn draw(random: &mut dyn FnMut(u32) -> u32, n: u32) -> u32 {
    if n <= 1 {
        return 0;
    }
    let v = random(n);
    if v >= n { v % n } else { v }
}

/// Lowercase host without a `:port` suffix or a trailing dot.
pub(super) fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let host = match host.rsplit_once(':') {
        Some((h, port))
            if !h.is_empty()
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!h.contains(':') || h.ends_with(']')) =>
        {
            h
        }
        _ => host,
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

pub(super) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Element-wise prefix match (trailing `/` of the rule ignored); returns the rule's length
/// without the trailing `/`.
pub(super) fn prefix_match(rule: &str, req_path: &str) -> Option<usize> {
    let base = rule.trim_end_matches('/');
    if base.is_empty()
        || req_path == base
        || req_path
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
    {
        Some(base.len())
    } else {
        None
    }
}
