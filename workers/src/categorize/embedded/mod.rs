//! The embedded provider (default, offline): all-MiniLM-L6-v2 on the CPU
//! embeds the listing text, cosine similarity ranks the taxonomy's category
//! vectors, and the lexical signal (with multilingual synonyms) is added so
//! terse and non-English titles land well.

pub mod index;
pub mod model;

use super::{
    CategorizeError, attributes,
    lexical::{LexicalIndex, Query},
    suggestion::{Classification, ListingText, Suggestion},
    synonyms,
};
use candle_core::{Device, Tensor};
use fleet_shared::{Config, taxonomy::Taxonomy};
use index::CategoryVectors;
use model::Encoder;
use std::collections::HashMap;

/// Provider name recorded with suggestions.
pub const PROVIDER: &str = "embedded";

/// Weight of the lexical share next to the cosine similarity.
const LEXICAL_WEIGHT: f32 = 0.35;

/// Softmax temperature turning score gaps into confidences.
const TEMPERATURE: f32 = 0.05;

/// Subtracted from parts and accessories when the title names none: a listing
/// is usually the item itself, even when its description mentions its charger.
const ACCESSORY_PENALTY: f32 = 0.12;

/// Subtracted from a specialised branch (maternity, children's, wedding, a sport…)
/// the listing's text does not mention.
const QUALIFIER_PENALTY: f32 = 0.08;

/// Subtracted per level below the third: a more specific guess is a riskier one.
const DEPTH_PENALTY: f32 = 0.01;

/// Added to a specialised branch the listing's text does name ("Kinder", "running").
const QUALIFIER_BONUS: f32 = 0.08;

/// Added to a category whose own name the title says ("… sandals size 7" is Sandals,
/// not Gymnastics Heel Protectors).
const NAME_BONUS: f32 = 0.16;

/// Added to [`NAME_BONUS`] for each further word of the name the title says.
const NAME_WORD_BONUS: f32 = 0.04;

/// Title words that mean the listing is a part or an accessory.
const ACCESSORY_WORDS: &[&str] = &[
    "accessory",
    "part",
    "replacement",
    "spare",
    "case",
    "cover",
    "charger",
    "cable",
    "strap",
    "battery",
    "remote",
    "lens",
    "protector",
    "string",
    "insert",
    "refill",
    "adapter",
    "mount",
    "holder",
    "pouch",
    "sleeve",
    "filter",
    "attachment",
];

/// Bytes of text per model token, with room to spare: a description cut at
/// this many bytes per token still fills every token the model reads.
const BYTES_PER_TOKEN: usize = 32;

/// Candidates the confidence is spread over.
const CONFIDENCE_POOL: usize = 10;

/// A category position and its combined score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Position in the taxonomy's category list.
    pub pos: usize,
    /// Cosine similarity plus the weighted lexical share.
    pub score: f32,
}

/// What is known of a category before reading the listing.
#[derive(Debug, Clone)]
struct Prior {
    /// A part or accessory of something.
    accessory: bool,
    /// Score subtracted for its depth.
    depth: f32,
    /// Specialisations its path names (see [`super::qualifiers`]).
    qualifiers: Vec<u8>,
    /// Its own name's alternatives ("Scarves & Shawls": scarf; shawl), as stemmed terms.
    names: Vec<Vec<String>>,
}

/// The product words of each alternative a category name lists, stemmed:
/// "Scarves & Shawls" is scarf; shawl. A head noun is shared ("Coat & Hat
/// Racks" is coat rack; hat rack), and words that only qualify are left out
/// ("Baby & Children's Boots" is boot), as qualifiers are scored apart.
fn name_alternatives(name: &str) -> Vec<Vec<String>> {
    let parts: Vec<Vec<String>> = name
        .split(" & ")
        .flat_map(|part| part.split(", "))
        .map(super::text::terms)
        .collect();
    let head: &[String] = match parts.last() {
        Some(last) if last.len() > 1 => &last[1..],
        _ => &[],
    };
    let mut out: Vec<Vec<String>> = parts
        .iter()
        .map(|terms| {
            let mut terms = terms.clone();
            if terms.len() == 1 {
                terms.extend(head.iter().cloned());
            }
            terms
                .retain(|t| !super::lexical::is_modifier(t) && !super::qualifiers::is_qualifier(t));
            terms
        })
        .filter(|terms| !terms.is_empty())
        .collect();
    out.dedup();
    out
}

/// What one ranking thread did: the sentence model's time, and the rankings
/// it made by listing index.
type ThreadRanking = (std::time::Duration, Vec<(usize, Vec<Scored>)>);

/// The loaded embedded classifier: model, category vectors, lexical index. Load once per process.
pub struct EmbeddedClassifier {
    encoder: Encoder,
    taxonomy: &'static Taxonomy,
    /// `dims × categories`, for one matrix product per batch.
    vectors_t: Tensor,
    lexical: LexicalIndex,
    priors: Vec<Prior>,
    /// First term of a name alternative → the categories that have it.
    names_by_term: HashMap<String, Vec<usize>>,
    batch_size: usize,
    /// Bytes of a description the sentence model could read within its tokens.
    model_description_bytes: usize,
    suggestions: usize,
    /// Whether the category vectors came from the disk cache.
    pub vectors_from_cache: bool,
}

impl std::fmt::Debug for EmbeddedClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedClassifier")
            .field("encoder", &self.encoder)
            .finish_non_exhaustive()
    }
}

fn inference(e: candle_core::Error) -> CategorizeError {
    CategorizeError::Inference(e.to_string())
}

impl EmbeddedClassifier {
    /// Finds and loads the model, then the category vectors (from `data_dir/categorize`, or built).
    pub fn load(config: &Config) -> Result<EmbeddedClassifier, CategorizeError> {
        let dir = super::config::model_dir(config)?;
        let settings = &config.categorize;
        let encoder = Encoder::load(&dir, settings.max_tokens)?;
        let taxonomy = Taxonomy::shipped();
        let vectors = CategoryVectors::load_or_build(
            &encoder,
            taxonomy,
            &config.data_dir.join("categorize"),
        )?;
        let n = taxonomy.categories.len();
        let vectors_t = Tensor::from_vec(vectors.data, (n, vectors.dims), &Device::Cpu)
            .and_then(|t| t.t()?.contiguous())
            .map_err(inference)?;
        let priors: Vec<Prior> = taxonomy
            .categories
            .iter()
            .map(|c| Prior {
                accessory: c
                    .full_path
                    .split(" > ")
                    .any(|name| name.contains("Accessories") || name.contains("Parts")),
                depth: DEPTH_PENALTY * c.depth.saturating_sub(3) as f32,
                qualifiers: super::qualifiers::qualifiers_of(&c.full_path),
                names: name_alternatives(c.full_path.rsplit(" > ").next().unwrap_or_default()),
            })
            .collect();
        let mut names_by_term: HashMap<String, Vec<usize>> = HashMap::new();
        for (pos, prior) in priors.iter().enumerate() {
            for first in prior.names.iter().filter_map(|alt| alt.first()) {
                let list = names_by_term.entry(first.clone()).or_default();
                if list.last() != Some(&pos) {
                    list.push(pos);
                }
            }
        }
        Ok(EmbeddedClassifier {
            encoder,
            taxonomy,
            vectors_t,
            lexical: LexicalIndex::build(taxonomy),
            priors,
            names_by_term,
            batch_size: settings.batch_size,
            model_description_bytes: settings.max_tokens * BYTES_PER_TOKEN,
            suggestions: settings.suggestions,
            vectors_from_cache: vectors.from_cache,
        })
    }

    /// The taxonomy it ranks.
    pub fn taxonomy(&self) -> &'static Taxonomy {
        self.taxonomy
    }

    /// What the sentence model reads of a listing: title and description with known
    /// foreign words translated, the title first.
    fn model_text(&self, item: &ListingText) -> String {
        let brand = item.brand.as_deref().unwrap_or_default();
        // The model reads a few tokens: the rest of a long description is not translated.
        let description = super::text::truncate(&item.description, self.model_description_bytes);
        format!(
            "{} {brand}. {}",
            synonyms::translate(&item.title),
            synonyms::translate(description)
        )
    }

    /// The `k` best categories of each listing, best first. Batches of
    /// similar length run on every core at once: the model's element-wise
    /// steps and the scoring are single-threaded, so one batch at a time
    /// leaves a core idle.
    pub fn rank(
        &self,
        items: &[ListingText],
        k: usize,
    ) -> Result<Vec<Vec<Scored>>, CategorizeError> {
        let n = self.taxonomy.categories.len();
        let k = k.clamp(1, n);
        let started = std::time::Instant::now();
        // Similar lengths together: less padding per batch.
        let texts: Vec<String> = items.iter().map(|item| self.model_text(item)).collect();
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let chunks: Vec<&[usize]> = order.chunks(self.batch_size.max(1)).collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(chunks.len());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = || -> Result<ThreadRanking, CategorizeError> {
            let mut model_time = std::time::Duration::ZERO;
            let mut ranked = Vec::new();
            loop {
                let c = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(chunk) = chunks.get(c) else {
                    return Ok((model_time, ranked));
                };
                model_time += self.rank_batch(chunk, &texts, items, k, &mut ranked)?;
            }
        };
        let done = if threads <= 1 {
            vec![work()]
        } else {
            // Each thread runs the model in a rayon pool of its own thread, so
            // its matrix products stay on it instead of queueing on the global
            // pool behind the other threads' (286 -> 321 listings/s on 2 cores).
            let alone = || {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .map_err(|e| CategorizeError::Inference(format!("ranking thread: {e}")))?
                    .install(work)
            };
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads).map(|_| scope.spawn(alone)).collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(CategorizeError::Inference(
                                "a ranking thread panicked".to_owned(),
                            ))
                        })
                    })
                    .collect()
            })
        };
        let mut out: Vec<Vec<Scored>> = vec![Vec::new(); items.len()];
        let mut model_time = std::time::Duration::ZERO;
        for result in done {
            let (time, ranked) = result?;
            model_time += time;
            for (i, scored) in ranked {
                out[i] = scored;
            }
        }
        tracing::debug!(
            listings = items.len(),
            threads,
            model_ms = model_time.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "ranked"
        );
        Ok(out)
    }

    /// Ranks the listings at `chunk` (indexes into `items` and their model
    /// `texts`) into `ranked`; returns the time the sentence model took.
    fn rank_batch(
        &self,
        chunk: &[usize],
        texts: &[String],
        items: &[ListingText],
        k: usize,
        ranked: &mut Vec<(usize, Vec<Scored>)>,
    ) -> Result<std::time::Duration, CategorizeError> {
        let batch: Vec<String> = chunk.iter().map(|&i| texts[i].clone()).collect();
        let model_started = std::time::Instant::now();
        let embedded = self.encoder.embed(&batch)?;
        let model_time = model_started.elapsed();
        let dims = self.encoder.dims();
        let flat: Vec<f32> = embedded.into_iter().flatten().collect();
        let q = Tensor::from_vec(flat, (chunk.len(), dims), &Device::Cpu).map_err(inference)?;
        let sims = q
            .matmul(&self.vectors_t)
            .and_then(|t| t.to_vec2::<f32>())
            .map_err(inference)?;
        for (&i, mut row) in chunk.iter().zip(sims) {
            let item = &items[i];
            // Translated and stemmed once, for the lexical signal and the priors.
            let title_terms = super::text::terms(&synonyms::translate(&format!(
                "{} {}",
                item.title,
                item.brand.as_deref().unwrap_or_default()
            )));
            let description_terms = super::text::terms(&synonyms::translate(&item.description));
            let query = Query::from_terms(&title_terms, &description_terms);
            for (pos, lex) in self.lexical.score(&query) {
                if let Some(s) = row.get_mut(pos as usize) {
                    *s += LEXICAL_WEIGHT * lex;
                }
            }
            let wants_part = title_terms
                .iter()
                .any(|t| ACCESSORY_WORDS.contains(&t.as_str()));
            let mut all_terms = title_terms.clone();
            all_terms.extend(description_terms);
            let justified = super::qualifiers::justified_by(&all_terms);
            for (s, prior) in row.iter_mut().zip(&self.priors) {
                *s -= prior.depth;
                if prior.accessory && !wants_part {
                    *s -= ACCESSORY_PENALTY;
                }
                if prior
                    .qualifiers
                    .iter()
                    .any(|&q| !justified.get(usize::from(q)).copied().unwrap_or(true))
                {
                    *s -= QUALIFIER_PENALTY;
                } else if !prior.qualifiers.is_empty() {
                    *s += QUALIFIER_BONUS;
                }
            }
            let mut named: Vec<usize> = title_terms
                .iter()
                .filter_map(|t| self.names_by_term.get(t))
                .flatten()
                .copied()
                .collect();
            named.sort_unstable();
            named.dedup();
            for pos in named {
                // The longest alternative the title says: "ski boots" names Ski Boots more than Boots.
                let words = self.priors[pos]
                    .names
                    .iter()
                    .filter(|alt| alt.iter().all(|t| title_terms.contains(t)))
                    .map(Vec::len)
                    .max();
                if let (Some(words), Some(s)) = (words, row.get_mut(pos)) {
                    *s += NAME_BONUS + NAME_WORD_BONUS * words.saturating_sub(1) as f32;
                }
            }
            ranked.push((i, top_k(&row, k)));
        }
        Ok(model_time)
    }

    /// Ranked suggestions and attributes for each listing.
    pub fn classify(&self, items: &[ListingText]) -> Result<Vec<Classification>, CategorizeError> {
        let pool = self.suggestions.max(CONFIDENCE_POOL);
        let ranked = self.rank(items, pool)?;
        Ok(items
            .iter()
            .zip(ranked)
            .map(|(item, scored)| Classification {
                suggestions: self.suggestions_from(&scored, self.suggestions),
                attributes: attributes::extract(item),
                fallback: None,
            })
            .collect())
    }

    /// Turns scores into suggestions with confidences (a softmax over the pool).
    pub fn suggestions_from(&self, scored: &[Scored], take: usize) -> Vec<Suggestion> {
        let Some(top) = scored.first().map(|s| s.score) else {
            return Vec::new();
        };
        let weights: Vec<f32> = scored
            .iter()
            .map(|s| ((s.score - top) / TEMPERATURE).exp())
            .collect();
        let total: f32 = weights.iter().sum::<f32>().max(f32::MIN_POSITIVE);
        scored
            .iter()
            .zip(weights)
            .take(take)
            .map(|(s, w)| {
                let cat = &self.taxonomy.categories[s.pos];
                Suggestion {
                    gid: cat.gid.clone(),
                    full_path: cat.full_path.clone(),
                    confidence: (w / total * 1000.0).round() / 1000.0,
                    provider: PROVIDER.to_owned(),
                }
            })
            .collect()
    }
}

/// Positions of the `k` largest values, largest first.
fn top_k(row: &[f32], k: usize) -> Vec<Scored> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    let k = k.min(row.len());
    if k == 0 {
        return Vec::new();
    }
    idx.select_nth_unstable_by(k - 1, |&a, &b| row[b].total_cmp(&row[a]));
    idx.truncate(k);
    idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    idx.into_iter()
        .map(|pos| Scored {
            pos,
            score: row[pos],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::name_alternatives;

    fn alternatives(name: &str) -> Vec<Vec<&'static str>> {
        name_alternatives(name)
            .into_iter()
            .map(|alt| alt.into_iter().map(|t| &*t.leak()).collect())
            .collect()
    }

    #[test]
    fn names_split_into_alternatives_sharing_their_head() {
        assert_eq!(alternatives("Scarves & Shawls"), [["scarf"], ["shawl"]]);
        assert_eq!(
            alternatives("Coat & Hat Racks"),
            [["coat", "rack"], ["hat", "rack"]]
        );
        assert_eq!(alternatives("Baby & Children's Boots"), [["boot"]]);
        assert_eq!(
            alternatives("Hair Pins, Claws & Clips"),
            vec![vec!["hair", "pin"], vec!["claw"], vec!["clip"]]
        );
    }
}
