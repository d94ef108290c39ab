//! Reading the chat completions answer: the message content must be the JSON
//! the schema asked for, naming one of the candidates.

use serde::Deserialize;

/// The model's choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Short taxonomy id.
    pub id: String,
    /// Confidence the model gave, clamped to 0–1.
    pub confidence: f32,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<CompletionChoice>,
}

#[derive(Deserialize)]
struct CompletionChoice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct Answer {
    category_id: String,
    #[serde(default)]
    confidence: Option<f32>,
}

/// Parses a completion body; `Err` says what was wrong with it.
pub fn parse(body: &str, candidates: &[super::request::Candidate]) -> Result<Choice, String> {
    let completion: Completion =
        serde_json::from_str(body).map_err(|e| format!("not a chat completion: {e}"))?;
    let message = completion
        .choices
        .into_iter()
        .next()
        .ok_or("the completion has no choices")?
        .message;
    if let Some(refusal) = message.refusal {
        return Err(format!(
            "the model refused: {}",
            crate::categorize::text::truncate(&refusal, 200)
        ));
    }
    let content = message.content.ok_or("the message has no content")?;
    // Some servers wrap JSON in a code fence despite the schema.
    let trimmed = content
        .trim()
        .trim_start_matches("```json")
        .trim_start_matches("```")
        .trim_end_matches("```")
        .trim();
    let answer: Answer = serde_json::from_str(trimmed)
        .map_err(|e| format!("the answer is not the requested JSON: {e}"))?;
    let id = fleet_shared::taxonomy::short_id(&answer.category_id).to_owned();
    if !candidates.iter().any(|c| c.id == id) {
        return Err(format!(
            "the model answered `{}`, which is not a candidate",
            crate::categorize::text::truncate(&id, 100)
        ));
    }
    Ok(Choice {
        id,
        confidence: answer.confidence.unwrap_or(0.5).clamp(0.0, 1.0),
    })
}
