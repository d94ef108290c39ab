//! The baseline the eval reports beside each provider: plain TF-IDF vectors of
//! the category paths against the listing's words, nearest by cosine. No
//! model, no synonyms, no weighting of names over ancestors.

use super::text;
use fleet_shared::taxonomy::Taxonomy;
use std::collections::HashMap;

/// TF-IDF vectors of every category path.
#[derive(Debug)]
pub struct TfIdf {
    postings: HashMap<String, Vec<(u32, f32)>>,
    idf: HashMap<String, f32>,
    norms: Vec<f32>,
}

impl TfIdf {
    /// Builds the vectors of `taxonomy`'s full paths.
    pub fn build(taxonomy: &Taxonomy) -> TfIdf {
        let docs: Vec<HashMap<String, f32>> = taxonomy
            .categories
            .iter()
            .map(|c| {
                let mut tf = HashMap::new();
                for t in text::terms(&c.full_path) {
                    *tf.entry(t).or_insert(0.0) += 1.0;
                }
                tf
            })
            .collect();
        let n = docs.len().max(1) as f32;
        let mut df: HashMap<String, f32> = HashMap::new();
        for d in &docs {
            for t in d.keys() {
                *df.entry(t.clone()).or_insert(0.0) += 1.0;
            }
        }
        let idf: HashMap<String, f32> = df
            .into_iter()
            .map(|(t, d)| (t, (n / d).ln() + 1.0))
            .collect();
        let mut postings: HashMap<String, Vec<(u32, f32)>> = HashMap::new();
        let mut norms = Vec::with_capacity(docs.len());
        for (i, d) in docs.into_iter().enumerate() {
            let mut norm = 0.0f32;
            let pos = u32::try_from(i).unwrap_or(u32::MAX);
            for (t, tf) in d {
                let w = tf * idf.get(&t).copied().unwrap_or(1.0);
                norm += w * w;
                postings.entry(t).or_default().push((pos, w));
            }
            norms.push(norm.sqrt().max(1e-9));
        }
        TfIdf {
            postings,
            idf,
            norms,
        }
    }

    /// The `k` nearest category positions to `text`, best first.
    pub fn rank(&self, text: &str, k: usize) -> Vec<usize> {
        let mut tf: HashMap<String, f32> = HashMap::new();
        for t in text::terms(text) {
            *tf.entry(t).or_insert(0.0) += 1.0;
        }
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for (t, f) in &tf {
            let Some(list) = self.postings.get(t) else {
                continue;
            };
            let qw = f * self.idf.get(t).copied().unwrap_or(1.0);
            for &(pos, w) in list {
                *scores.entry(pos).or_insert(0.0) += qw * w;
            }
        }
        let mut ranked: Vec<(u32, f32)> = scores
            .into_iter()
            .map(|(p, s)| (p, s / self.norms[p as usize]))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
            .into_iter()
            .take(k)
            .map(|(p, _)| p as usize)
            .collect()
    }
}
