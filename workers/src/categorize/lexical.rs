//! The lexical signal: how much of a listing's (translated) wording a
//! category's name and ancestors contain, weighted by how rare each word is
//! among category names. Catches terse titles ("Levi's 501 W32") and words the
//! sentence model never saw in training (other languages, via the synonyms).

use super::{synonyms, text};
use fleet_shared::taxonomy::Taxonomy;
use std::collections::HashMap;

/// Weight of a word from a category's own name, its parent's, and higher ancestors'.
const OWN: f32 = 1.0;
const PARENT: f32 = 0.45;
const ANCESTOR: f32 = 0.2;

/// Weight of description words relative to title words.
const DESCRIPTION: f32 = 0.3;

/// Weight of words that qualify rather than name a product (gender, age, material, colour).
const MODIFIER: f32 = 0.25;

/// Whether a (stemmed) word qualifies a product (who it is for, what it is made
/// of, its colour, how many) rather than names one.
pub fn is_modifier(term: &str) -> bool {
    matches!(
        term,
        "men"
            | "man"
            | "women"
            | "woman"
            | "lady"
            | "ladie"
            | "girl"
            | "boy"
            | "kid"
            | "child"
            | "children"
            | "baby"
            | "unisex"
            | "adult"
            | "wool"
            | "cotton"
            | "leather"
            | "silk"
            | "linen"
            | "denim"
            | "black"
            | "white"
            | "red"
            | "blue"
            | "green"
            | "grey"
            | "gray"
            | "brown"
            | "pink"
            | "gold"
            | "silver"
            | "small"
            | "large"
            | "long"
            | "short"
            | "cream"
            | "beige"
            | "navy"
            | "khaki"
            | "ivory"
            | "ecru"
            | "camel"
            | "olive"
            | "burgundy"
            | "purple"
            | "orange"
            | "yellow"
            | "tan"
            | "nude"
            | "floral"
            | "striped"
            | "satin"
            | "velvet"
            | "suede"
            | "cashmere"
            | "fleece"
            | "lace"
            | "knit"
            | "knitted"
            | "corduroy"
            | "canvas"
            | "nylon"
            | "polyester"
            | "oak"
            | "pine"
            | "walnut"
            | "wooden"
            | "rattan"
            | "wicker"
            | "bamboo"
            | "marble"
            | "steel"
            | "brass"
            | "set"
            | "lot"
            | "pack"
            | "pair"
            | "bundle"
    )
}

/// The taxonomy's words, indexed for scoring listings.
#[derive(Debug)]
pub struct LexicalIndex {
    /// term → (category position, weight in that category).
    postings: HashMap<String, Vec<(u32, f32)>>,
    /// term → inverse document frequency over category names.
    idf: HashMap<String, f32>,
    default_idf: f32,
}

/// A listing's weighted terms.
#[derive(Debug, Clone, Default)]
pub struct Query {
    terms: Vec<(String, f32)>,
}

impl Query {
    /// Terms from the title (full weight), its translations, and the description (less).
    pub fn new(title: &str, description: &str) -> Query {
        // Known foreign words count only as their translation ("robe" is a dress, not a bathrobe).
        Query::from_terms(
            &text::terms(&synonyms::translate(title)),
            &text::terms(&synonyms::translate(description)),
        )
    }

    /// The query of a listing's translated, stemmed title and description terms.
    pub fn from_terms(title: &[String], description: &[String]) -> Query {
        let mut weights: HashMap<String, f32> = HashMap::new();
        let mut add = |t: &String, w: f32| {
            // Who it is for and what it is made of say little about what it is.
            let w = if is_modifier(t) { w * MODIFIER } else { w };
            let e = weights.entry(t.clone()).or_insert(0.0);
            *e = e.max(w);
        };
        for t in title {
            add(t, 1.0);
        }
        for t in description {
            add(t, DESCRIPTION);
        }
        let mut terms: Vec<(String, f32)> = weights.into_iter().collect();
        terms.sort_by(|a, b| a.0.cmp(&b.0));
        Query { terms }
    }

    /// Whether the listing has no usable words.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

impl LexicalIndex {
    /// Indexes every category of `taxonomy`.
    pub fn build(taxonomy: &Taxonomy) -> LexicalIndex {
        let mut postings: HashMap<String, Vec<(u32, f32)>> = HashMap::new();
        let mut df: HashMap<String, u32> = HashMap::new();
        let n = taxonomy.categories.len();
        for (pos, cat) in taxonomy.categories.iter().enumerate() {
            let names: Vec<&str> = cat.full_path.split(" > ").collect();
            let mut weights: HashMap<String, f32> = HashMap::new();
            for (level, name) in names.iter().rev().enumerate() {
                let w = match level {
                    0 => OWN,
                    1 => PARENT,
                    _ => ANCESTOR,
                };
                let own_terms = text::terms(name);
                // Long names share the weight: "T-Shirts" matches more strongly than
                // "Shirts, Tops & Blouses for Special Occasions".
                let share = w / (own_terms.len().max(1) as f32).sqrt();
                for t in own_terms {
                    let e = weights.entry(t).or_insert(0.0);
                    *e = e.max(share);
                }
            }
            for t in text::terms(names.last().copied().unwrap_or_default()) {
                *df.entry(t).or_insert(0) += 1;
            }
            let pos = u32::try_from(pos).unwrap_or(u32::MAX);
            for (t, w) in weights {
                postings.entry(t).or_default().push((pos, w));
            }
        }
        let nf = n.max(1) as f32;
        let idf = df
            .into_iter()
            .map(|(t, d)| (t, (nf / d as f32).ln().max(0.1)))
            .collect();
        LexicalIndex {
            postings,
            idf,
            default_idf: nf.ln(),
        }
    }

    fn idf(&self, term: &str) -> f32 {
        self.idf.get(term).copied().unwrap_or(self.default_idf)
    }

    /// Scores of every category for `query`, in `[0, 1]`: the share of the query's
    /// (idf-weighted) words the category contains. Sparse: categories scoring 0 are absent.
    pub fn score(&self, query: &Query) -> HashMap<u32, f32> {
        let mut scores: HashMap<u32, f32> = HashMap::new();
        let mut total = 0.0f32;
        for (term, qw) in &query.terms {
            let Some(list) = self.postings.get(term) else {
                // Unknown words (brands, model numbers) do not count against categories.
                continue;
            };
            let weight = qw * self.idf(term);
            total += weight;
            for &(pos, cw) in list {
                *scores.entry(pos).or_insert(0.0) += weight * cw;
            }
        }
        if total > 0.0 {
            for s in scores.values_mut() {
                *s /= total;
            }
        }
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translated_and_terse_titles_find_their_words() {
        let taxonomy = Taxonomy::shipped();
        let index = LexicalIndex::build(taxonomy);
        let best = |title: &str| {
            let scores = index.score(&Query::new(title, ""));
            let (pos, _) = scores
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .unwrap();
            taxonomy.categories[pos as usize].full_path.clone()
        };
        assert!(
            best("Robe longue fleurie").contains("Dresses"),
            "{}",
            best("Robe longue fleurie")
        );
        assert!(best("Winterstiefel Damen").contains("Boots"));
        assert!(Query::new("", "").is_empty());
    }
}
