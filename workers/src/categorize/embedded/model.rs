//! The sentence encoder: all-MiniLM-L6-v2 (BERT, 6 layers, 384 dimensions) run
//! by candle on the CPU, mean-pooled and L2-normalised as sentence-transformers does.

use super::super::CategorizeError;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use std::path::{Path, PathBuf};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Files the model directory must hold.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Tokens of a category text read (category paths are short; none is cut).
const CATEGORY_TOKENS: usize = 64;

/// A loaded sentence encoder. Load it once per process and share it.
pub struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
    category_tokenizer: Tokenizer,
    device: Device,
    dims: usize,
    /// Where the files came from.
    pub dir: PathBuf,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("dir", &self.dir)
            .field("dims", &self.dims)
            .finish()
    }
}

fn model_err(dir: &Path, what: impl std::fmt::Display) -> CategorizeError {
    CategorizeError::Model {
        dir: dir.to_owned(),
        message: what.to_string(),
    }
}

impl Encoder {
    /// Loads config, tokenizer and weights from `dir`; reads at most `max_tokens` tokens of a text.
    pub fn load(dir: &Path, max_tokens: usize) -> Result<Encoder, CategorizeError> {
        for file in MODEL_FILES {
            if !dir.join(file).is_file() {
                return Err(model_err(dir, format!("{file} is missing")));
            }
        }
        let config_text = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|e| model_err(dir, format!("config.json: {e}")))?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| model_err(dir, format!("config.json: {e}")))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| model_err(dir, format!("tokenizer.json: {e}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        let mut category_tokenizer = tokenizer.clone();
        for (t, max_length) in [
            (&mut tokenizer, max_tokens),
            (&mut category_tokenizer, CATEGORY_TOKENS),
        ] {
            t.with_truncation(Some(TruncationParams {
                max_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| model_err(dir, format!("tokenizer truncation: {e}")))?;
        }
        let device = Device::Cpu;
        // SAFETY-free path: the weights are read into memory (no mmap of a file that could change).
        let weights = std::fs::read(dir.join("model.safetensors"))
            .map_err(|e| model_err(dir, format!("model.safetensors: {e}")))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| model_err(dir, format!("model.safetensors: {e}")))?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| model_err(dir, format!("model.safetensors: {e}")))?;
        Ok(Encoder {
            model,
            tokenizer,
            category_tokenizer,
            device,
            dims: config.hidden_size,
            dir: dir.to_owned(),
        })
    }

    /// Embedding size (384).
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Unit-length embeddings of listing `texts` (truncated to the configured tokens),
    /// one row of [`Encoder::dims`] floats each, in order.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, CategorizeError> {
        self.embed_with(&self.tokenizer, texts)
    }

    /// Like [`Encoder::embed`] for category texts, which are never cut short.
    pub fn embed_categories(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, CategorizeError> {
        self.embed_with(&self.category_tokenizer, texts)
    }

    fn embed_with(
        &self,
        tokenizer: &Tokenizer,
        texts: &[String],
    ) -> Result<Vec<Vec<f32>>, CategorizeError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inference = |e: &dyn std::fmt::Display| CategorizeError::Inference(e.to_string());
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| inference(&e))?;
        let len = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(texts.len() * len);
        let mut mask = Vec::with_capacity(texts.len() * len);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let shape = (texts.len(), len);
        let ids = Tensor::from_vec(ids, shape, &self.device).map_err(|e| inference(&e))?;
        let mask = Tensor::from_vec(mask, shape, &self.device).map_err(|e| inference(&e))?;
        let types = ids.zeros_like().map_err(|e| inference(&e))?;
        let hidden = self
            .model
            .forward(&ids, &types, Some(&mask))
            .map_err(|e| inference(&e))?;
        // Mean over real tokens, then L2 normalisation.
        let pooled = (|| {
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&m)?.sum(1)?;
            let counts = m.sum(1)?.clamp(1e-9f32, f32::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean
                .sqr()?
                .sum_keepdim(1)?
                .sqrt()?
                .clamp(1e-12f32, f32::MAX)?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        })()
        .map_err(|e: candle_core::Error| inference(&e))?;
        Ok(pooled)
    }
}
