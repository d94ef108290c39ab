//! The category vectors: every taxonomy category embedded once and cached on
//! disk (in the data directory), keyed by the model weights, the taxonomy
//! version and the text recipe, so a new model or taxonomy re-embeds.

use super::model::Encoder;
use crate::categorize::CategorizeError;
use fleet_shared::taxonomy::{Category, Taxonomy};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Bumped whenever [`category_text`] changes.
const RECIPE: &str = "v1";

/// Categories embedded per model call while building the cache.
const BATCH: usize = 128;

/// The text that stands for a category: its name, then its parent and grandparent.
pub fn category_text(cat: &Category) -> String {
    let names: Vec<&str> = cat.full_path.split(" > ").collect();
    let mut out: Vec<&str> = names.iter().rev().take(3).copied().collect();
    if out.len() < names.len()
        && let Some(top) = names.first()
    {
        out.push(top);
    }
    out.join(", ")
}

/// Unit vectors of every category, row-major (`categories × dims`).
#[derive(Debug)]
pub struct CategoryVectors {
    /// Floats, `dims` per category, in taxonomy order.
    pub data: Vec<f32>,
    /// Embedding size.
    pub dims: usize,
    /// Whether they were read from the cache (false: computed now).
    pub from_cache: bool,
}

fn cache_file(
    cache_dir: &Path,
    encoder: &Encoder,
    taxonomy: &Taxonomy,
) -> Result<PathBuf, CategorizeError> {
    let weights = encoder.dir.join("model.safetensors");
    let bytes = std::fs::read(&weights).map_err(|source| CategorizeError::Cache {
        path: weights.clone(),
        source,
    })?;
    let mut h = Sha256::new();
    h.update(&bytes);
    h.update(taxonomy.version.as_bytes());
    h.update(taxonomy.categories.len().to_le_bytes());
    h.update(RECIPE.as_bytes());
    let key = hex::encode(&h.finalize()[..12]);
    Ok(cache_dir.join(format!("category-vectors-{key}.f32")))
}

impl CategoryVectors {
    /// Reads the cached vectors, or embeds every category and writes the cache.
    pub fn load_or_build(
        encoder: &Encoder,
        taxonomy: &Taxonomy,
        cache_dir: &Path,
    ) -> Result<CategoryVectors, CategorizeError> {
        let dims = encoder.dims();
        let expected = taxonomy.categories.len() * dims;
        let path = cache_file(cache_dir, encoder, taxonomy)?;
        if let Ok(bytes) = std::fs::read(&path)
            && bytes.len() == expected * 4
        {
            let data = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            return Ok(CategoryVectors {
                data,
                dims,
                from_cache: true,
            });
        }
        tracing::info!(categories = taxonomy.categories.len(), cache = %path.display(), "embedding the taxonomy once");
        let started = std::time::Instant::now();
        let texts: Vec<String> = taxonomy.categories.iter().map(category_text).collect();
        // Similar lengths together: far less padding than taxonomy order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut data = vec![0f32; expected];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<String> = chunk.iter().map(|&i| texts[i].clone()).collect();
            for (&i, row) in chunk.iter().zip(encoder.embed_categories(&batch)?) {
                data[i * dims..(i + 1) * dims].copy_from_slice(&row);
            }
        }
        let io = |source| CategorizeError::Cache {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(cache_dir).map_err(io)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut bytes = Vec::with_capacity(data.len() * 4);
        for f in &data {
            bytes.extend_from_slice(&f.to_le_bytes());
        }
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "taxonomy embedded"
        );
        Ok(CategoryVectors {
            data,
            dims,
            from_cache: false,
        })
    }
}
