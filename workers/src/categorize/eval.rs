//! Evaluation on labelled listings (`{id, title, description, expected,
//! acceptable}` per line): top-1 and top-3 accuracy, exact and counting the
//! acceptable ids, overall and per top-level area.

use fleet_shared::taxonomy::{Taxonomy, area_of, short_id};
use serde::Deserialize;
use std::{collections::BTreeMap, path::Path};

/// One labelled listing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Labelled {
    /// Its id in the file.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// The right category gid.
    pub expected: String,
    /// Other gids that are also right (usually the parent).
    #[serde(default)]
    pub acceptable: Vec<String>,
}

/// Why a labelled file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a labelled listing.
    #[error("{path} line {line}: {message}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Reads a JSON-lines file of labelled listings; blank lines are skipped, unknown ids refused.
pub fn read_jsonl(path: &Path, taxonomy: &Taxonomy) -> Result<Vec<Labelled>, EvalError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: shown.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| EvalError::Line {
            path: shown.clone(),
            line: i + 1,
            message,
        };
        let item: Labelled = serde_json::from_str(line).map_err(|e| err(e.to_string()))?;
        for gid in std::iter::once(&item.expected).chain(&item.acceptable) {
            if taxonomy.get(gid).is_none() {
                return Err(err(format!("`{gid}` is not a category of the taxonomy")));
            }
        }
        out.push(item);
    }
    Ok(out)
}

/// Hit counts of one group of listings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Listings.
    pub n: usize,
    /// Best suggestion is the expected id.
    pub top1_exact: usize,
    /// Best suggestion is the expected or an acceptable id.
    pub top1_ok: usize,
    /// The expected id is among the best three.
    pub top3_exact: usize,
    /// The expected or an acceptable id is among the best three.
    pub top3_ok: usize,
}

impl Tally {
    /// Counts one listing given its ranked gids.
    pub fn add(&mut self, ranked: &[String], item: &Labelled) {
        let exact = |gid: &String| short_id(gid) == short_id(&item.expected);
        let ok = |gid: &String| {
            exact(gid) || item.acceptable.iter().any(|a| short_id(a) == short_id(gid))
        };
        self.n += 1;
        let first = ranked.first();
        self.top1_exact += usize::from(first.is_some_and(exact));
        self.top1_ok += usize::from(first.is_some_and(ok));
        self.top3_exact += usize::from(ranked.iter().take(3).any(exact));
        self.top3_ok += usize::from(ranked.iter().take(3).any(ok));
    }

    /// `count / n` as a percentage.
    pub fn pct(&self, count: usize) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            100.0 * count as f64 / self.n as f64
        }
    }
}

/// Tallies overall and per top-level area (by the expected id).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every listing.
    pub overall: Tally,
    /// By area short id (`aa`).
    pub per_area: BTreeMap<String, Tally>,
}

impl Report {
    /// Counts one listing.
    pub fn add(&mut self, ranked: &[String], item: &Labelled) {
        self.overall.add(ranked, item);
        self.per_area
            .entry(area_of(&item.expected).to_owned())
            .or_default()
            .add(ranked, item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_exact_and_acceptable_hits() {
        let item = Labelled {
            id: "1".into(),
            title: "t".into(),
            description: String::new(),
            expected: "gid://shopify/TaxonomyCategory/aa-1-13-8".into(),
            acceptable: vec!["gid://shopify/TaxonomyCategory/aa-1-13".into()],
        };
        let mut r = Report::default();
        r.add(&["aa-1-13".into(), "aa-1-13-8".into()], &item);
        r.add(&["aa-1-13-8".into()], &item);
        r.add(
            &[
                "el-1".into(),
                "el-2".into(),
                "el-3".into(),
                "aa-1-13-8".into(),
            ],
            &item,
        );
        let t = r.overall;
        assert_eq!(
            (t.n, t.top1_exact, t.top1_ok, t.top3_exact, t.top3_ok),
            (3, 1, 2, 2, 2)
        );
        assert_eq!(r.per_area["aa"].n, 3);
    }

    #[test]
    fn refuses_unknown_ids_with_the_line() {
        let dir = std::env::temp_dir().join(format!("fleet-eval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.jsonl");
        std::fs::write(
            &path,
            "\n{\"id\":\"a\",\"title\":\"x\",\"expected\":\"zz-9\"}\n",
        )
        .unwrap();
        let err = read_jsonl(&path, Taxonomy::shipped())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("zz-9"), "{err}");
        std::fs::write(&path, "{not json\n").unwrap();
        assert!(read_jsonl(&path, Taxonomy::shipped()).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
