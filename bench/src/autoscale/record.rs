//! The CSV `fleet supervise --record` writes, read back, and the figures the
//! benchmark judges it by.

use std::collections::BTreeMap;

/// One kind at one supervisor tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// Unix milliseconds of the tick.
    pub at_ms: i64,
    /// Worker kind.
    pub kind: String,
    /// Jobs due and not started, across the kind's queues.
    pub waiting: u64,
    /// Jobs running.
    pub in_flight: u64,
    /// What the scaling rule recommended.
    pub recommended: u32,
    /// Worker processes the supervisor ran after the tick.
    pub replicas: u32,
}

/// Parses the recorded CSV (header first); a malformed line is an error naming it.
pub fn parse(csv: &str) -> Result<Vec<Tick>, String> {
    csv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let field = |i: usize| f.get(i).copied().unwrap_or_default();
            let bad = |_| format!("malformed supervisor record: {line:?}");
            Ok(Tick {
                at_ms: field(0).parse().map_err(bad)?,
                kind: field(1).to_owned(),
                waiting: field(2).parse().map_err(bad)?,
                in_flight: field(3).parse().map_err(bad)?,
                recommended: field(4).parse().map_err(bad)?,
                replicas: field(5).parse().map_err(bad)?,
            })
        })
        .collect()
}

/// The ticks of each kind, in time order.
pub fn by_kind(ticks: &[Tick]) -> BTreeMap<String, Vec<Tick>> {
    let mut kinds: BTreeMap<String, Vec<Tick>> = BTreeMap::new();
    for t in ticks {
        kinds.entry(t.kind.clone()).or_default().push(t.clone());
    }
    for series in kinds.values_mut() {
        series.sort_by_key(|t| t.at_ms);
    }
    kinds
}

/// When a replica count turned from rising to falling or back (ms of the turning tick).
pub fn direction_changes(series: &[Tick]) -> Vec<i64> {
    let mut last = 0i64;
    let mut turns = Vec::new();
    for pair in series.windows(2) {
        let dir = (i64::from(pair[1].replicas) - i64::from(pair[0].replicas)).signum();
        if dir != 0 {
            if last != 0 && dir != last {
                turns.push(pair[1].at_ms);
            }
            last = dir;
        }
    }
    turns
}

/// The most direction changes inside any window of `window_ms`.
pub fn most_changes_within(turns: &[i64], window_ms: i64) -> usize {
    turns
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            turns[i..]
                .iter()
                .take_while(|&&t| t - start < window_ms)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(counts: &[(i64, u32)]) -> Vec<Tick> {
        counts
            .iter()
            .map(|&(at_ms, replicas)| Tick {
                at_ms,
                kind: "media".into(),
                waiting: 0,
                in_flight: 0,
                recommended: replicas,
                replicas,
            })
            .collect()
    }

    #[test]
    fn parses_the_supervisor_record_and_refuses_a_bad_line() {
        let csv = "at_ms,kind,waiting,in_flight,recommended,replicas,live_workers\n\
                   1000,media,120,4,3,3,2\n900,export,0,0,0,0,0\n1000,export,5,0,1,1,0\n";
        let ticks = parse(csv).unwrap();
        assert_eq!(ticks.len(), 3);
        assert_eq!(ticks[0].waiting, 120);
        assert_eq!(ticks[0].replicas, 3);
        let kinds = by_kind(&ticks);
        assert_eq!(kinds["export"][0].at_ms, 900);
        assert_eq!(kinds["export"][1].replicas, 1);
        let err = parse("header\n1000,media,x,0,0,0,0\n").unwrap_err();
        assert!(err.contains("1000,media,x"), "{err}");
    }

    #[test]
    fn counts_turns_not_steps() {
        // Up in three steps, flat, down in two: one turn.
        let s = series(&[(0, 1), (1, 3), (2, 6), (3, 6), (4, 4), (5, 1)]);
        assert_eq!(direction_changes(&s), vec![4]);
        // Up, down, up, down: three turns.
        let s = series(&[(0, 1), (10, 4), (20, 2), (30, 5), (40, 1)]);
        assert_eq!(direction_changes(&s), vec![20, 30, 40]);
        assert!(direction_changes(&series(&[(0, 2), (5, 2)])).is_empty());
    }

    #[test]
    fn finds_the_busiest_window() {
        assert_eq!(most_changes_within(&[], 60_000), 0);
        assert_eq!(most_changes_within(&[0, 70_000, 140_000], 60_000), 1);
        assert_eq!(most_changes_within(&[0, 10_000, 50_000, 65_000], 60_000), 3);
        assert_eq!(most_changes_within(&[0, 60_000], 60_000), 1);
    }
}
