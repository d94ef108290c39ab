//! A fake OpenAI-compatible chat completions server for the categorize
//! provider's contract tests. It speaks `POST /v1/chat/completions` as OpenAI
//! does: it requires the bearer key, a model, messages and a `json_schema`
//! response format (401/400 otherwise, with OpenAI's error body), and answers
//! in the mode the test sets: a valid choice, an id outside the schema's enum,
//! malformed JSON, a stall past the client's timeout, or 429s first.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// How the fake answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Chooses this id if given, else the schema's first allowed id.
    Valid(Option<String>),
    /// Answers an id that is not among the allowed ones.
    InvalidId,
    /// Answers message content that is not JSON.
    MalformedJson,
    /// Waits this long before answering (validly).
    Stall(Duration),
    /// Answers 429 with `Retry-After: 0` this many times, then validly.
    RateLimited(u32),
}

#[derive(Debug)]
struct Inner {
    mode: Mode,
    key: String,
    requests: Vec<Value>,
    limited: u32,
}

/// The fake server on a free port; stops when dropped.
#[derive(Debug)]
pub struct FakeOpenAi {
    /// Base URL including `/v1`.
    pub base_url: String,
    /// The bearer key it accepts.
    pub api_key: String,
    inner: Arc<Mutex<Inner>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": kind, "param": null, "code": null}})),
    )
        .into_response()
}

fn completion(content: &str) -> Response {
    Json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    }))
    .into_response()
}

async fn chat(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (mode, key) = {
        let guard = inner.lock().unwrap_or_else(|e| e.into_inner());
        (guard.mode.clone(), guard.key.clone())
    };
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {key}") {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Incorrect API key provided.",
        );
    }
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "We could not parse the JSON body of your request.",
        );
    };
    if request["model"].as_str().is_none_or(str::is_empty) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "you must provide a model parameter",
        );
    }
    if request["messages"].as_array().is_none_or(Vec::is_empty) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "'messages' is a required property",
        );
    }
    let format = &request["response_format"];
    let allowed: Vec<String> = format["json_schema"]["schema"]["properties"]["category_id"]["enum"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if format["type"] != "json_schema" || allowed.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "response_format json_schema with a category_id enum expected",
        );
    }
    {
        let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.requests.push(request.clone());
        if let Mode::RateLimited(n) = guard.mode
            && guard.limited < n
        {
            guard.limited += 1;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                Json(json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})),
            )
                .into_response();
        }
    }
    let valid = |id: Option<String>| {
        let id = id.unwrap_or_else(|| allowed[0].clone());
        completion(&json!({"category_id": id, "confidence": 0.9}).to_string())
    };
    match mode {
        Mode::Valid(id) => valid(id),
        Mode::RateLimited(_) => valid(None),
        Mode::InvalidId => {
            completion(&json!({"category_id": "zz-404", "confidence": 0.99}).to_string())
        }
        Mode::MalformedJson => completion("{\"category_id\": \"aa-1"),
        Mode::Stall(wait) => {
            tokio::time::sleep(wait).await;
            valid(None)
        }
    }
}

impl FakeOpenAi {
    /// Starts the server on a free port, answering in `mode`.
    pub async fn start(mode: Mode) -> FakeOpenAi {
        let inner = Arc::new(Mutex::new(Inner {
            mode,
            key: "sk-fake-test-key".to_owned(),
            requests: Vec::new(),
            limited: 0,
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake OpenAI port");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        FakeOpenAi {
            base_url,
            api_key: "sk-fake-test-key".to_owned(),
            inner,
            stop: Some(stop),
        }
    }

    /// Changes how it answers from now on.
    pub fn set_mode(&self, mode: Mode) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.mode = mode;
        guard.limited = 0;
    }

    /// The accepted requests' bodies, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .requests
            .clone()
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
