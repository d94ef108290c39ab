//! A Web Push service fake, as a real HTTP server on a free port. It hands
//! out subscriptions (a user agent's P-256 key pair and auth secret per
//! subscriber, endpoints `/push/{name}`), and for every message checks the
//! VAPID authorization (RFC 8292: `vapid t=<ES256 JWT>, k=<public key>`, the
//! expected key, a valid signature, `aud` the push service's origin, `exp`
//! within 24 hours, a `sub`), then decrypts the aes128gcm body (RFC 8291 and
//! RFC 8188) with its own implementation and keeps the plaintext. A request
//! failing a check is answered 400/401 and listed in [`PushService::refusals`].
//! Subscribers can be expired (410) or made to fail (503) a few times.

use aes_gcm::{Aes128Gcm, KeyInit, aead::Aead};
use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use p256::{
    PublicKey, SecretKey,
    ecdsa::{Signature, VerifyingKey, signature::Verifier},
    elliptic_curve::{rand_core::RngCore, sec1::ToEncodedPoint},
};
use serde_json::{Value, json};
use sha2::Sha256;
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

/// One message the fake accepted.
#[derive(Debug, Clone)]
pub struct PushMessage {
    /// The subscriber it went to.
    pub subscriber: String,
    /// The decrypted payload.
    pub payload: Value,
    /// The `TTL` header.
    pub ttl: u64,
    /// The `Urgency` header.
    pub urgency: Option<String>,
    /// The `Topic` header.
    pub topic: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    subscribers: HashMap<String, (SecretKey, [u8; 16])>,
    gone: HashSet<String>,
    fail_next: HashMap<String, u32>,
    messages: Vec<PushMessage>,
    refusals: Vec<String>,
}

#[derive(Debug)]
struct Shared {
    vapid_key: String,
    inner: Mutex<Inner>,
}

/// The fake push service, stopped on drop.
#[derive(Debug)]
pub struct PushService {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    shared: Arc<Shared>,
    _server: crate::fake_server::FakeServer,
}

impl PushService {
    /// Starts the fake, accepting requests signed by the VAPID public key `vapid_key` (base64url).
    pub fn start(vapid_key: &str) -> PushService {
        let shared = Arc::new(Shared {
            vapid_key: vapid_key.to_owned(),
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new()
            .route("/push/{name}", post(receive))
            .with_state(shared.clone());
        let server = crate::fake_server::FakeServer::start(app, "push service");
        PushService {
            base: server.base.clone(),
            shared,
            _server: server,
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new subscriber `name`: its `PushSubscription.toJSON()` (endpoint and keys).
    pub fn subscribe(&self, name: &str) -> Value {
        let secret = SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let mut auth = [0u8; 16];
        p256::elliptic_curve::rand_core::OsRng.fill_bytes(&mut auth);
        let public = secret.public_key().to_encoded_point(false);
        self.inner()
            .subscribers
            .insert(name.to_owned(), (secret, auth));
        json!({
            "endpoint": format!("{}/push/{name}", self.base),
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(public.as_bytes()),
                "auth": URL_SAFE_NO_PAD.encode(auth),
            },
        })
    }

    /// From now on, messages to `name` are answered 410 Gone.
    pub fn expire(&self, name: &str) {
        self.inner().gone.insert(name.to_owned());
    }

    /// The next `times` messages to `name` are answered 503.
    pub fn fail_next(&self, name: &str, times: u32) {
        self.inner().fail_next.insert(name.to_owned(), times);
    }

    /// The messages accepted so far, in order.
    pub fn messages(&self) -> Vec<PushMessage> {
        self.inner().messages.clone()
    }

    /// Why requests were refused (bad VAPID token, undecryptable body), in order.
    pub fn refusals(&self) -> Vec<String> {
        self.inner().refusals.clone()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn b64(s: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|e| format!("not base64url: {e}"))
}

/// Checks `Authorization: vapid t=…, k=…` (RFC 8292) for a push service at `origin`.
fn check_vapid(headers: &HeaderMap, origin: &str, expected_key: &str) -> Result<(), String> {
    let auth = header(headers, "authorization").ok_or("no Authorization header")?;
    let params = auth
        .strip_prefix("vapid ")
        .ok_or_else(|| format!("Authorization is not the vapid scheme: {auth}"))?;
    let mut token = None;
    let mut key = None;
    for part in params.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => token = Some(v),
            Some(("k", v)) => key = Some(v),
            _ => return Err(format!("unexpected vapid parameter `{part}`")),
        }
    }
    let (token, key) = token.zip(key).ok_or("vapid needs t= and k=")?;
    if key != expected_key {
        return Err(format!("k={key} is not the application server key"));
    }
    let verifying = VerifyingKey::from_sec1_bytes(&b64(key)?).map_err(|e| format!("k: {e}"))?;
    let parts: Vec<&str> = token.split('.').collect();
    let [head, claims, sig] = parts[..] else {
        return Err("the token is not a JWS".to_owned());
    };
    let head: Value = serde_json::from_slice(&b64(head)?).map_err(|e| e.to_string())?;
    if head["alg"] != "ES256" {
        return Err(format!("alg is {} not ES256", head["alg"]));
    }
    let signature = Signature::from_slice(&b64(sig)?).map_err(|e| format!("signature: {e}"))?;
    verifying
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .map_err(|_| "the token's signature does not verify".to_owned())?;
    let claims: Value = serde_json::from_slice(&b64(claims)?).map_err(|e| e.to_string())?;
    // The origin, or (as web-push libraries send it) the origin without its port.
    let aud = claims["aud"].as_str().unwrap_or_default();
    let host_only = origin.rsplit_once(':').map_or(origin, |(h, _)| h);
    if aud != origin && aud != host_only {
        return Err(format!("aud `{aud}` is not this push service ({origin})"));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let exp = claims["exp"].as_i64().ok_or("no exp claim")?;
    if exp <= now || exp > now + 24 * 3_600 {
        return Err(format!("exp {exp} is not within 24 hours of now ({now})"));
    }
    let sub = claims["sub"].as_str().unwrap_or_default();
    if !(sub.starts_with("mailto:") || sub.starts_with("https:")) {
        return Err(format!("sub `{sub}` is neither mailto: nor https:"));
    }
    Ok(())
}

/// Decrypts an aes128gcm body (one record) for the subscriber's keys.
fn decrypt(body: &[u8], secret: &SecretKey, auth: &[u8; 16]) -> Result<Vec<u8>, String> {
    if body.len() < 21 {
        return Err("body shorter than the aes128gcm header".to_owned());
    }
    let salt = &body[..16];
    let record_size = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
    let id_len = body[20] as usize;
    let key_id = body.get(21..21 + id_len).ok_or("truncated key id")?;
    let ciphertext = &body[21 + id_len..];
    if ciphertext.len() > record_size || ciphertext.len() < 17 {
        return Err(format!(
            "one record of {} bytes does not fit the record size {record_size}",
            ciphertext.len()
        ));
    }
    let sender = PublicKey::from_sec1_bytes(key_id).map_err(|e| format!("key id: {e}"))?;
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), sender.as_affine());
    let mut info = b"WebPush: info\0".to_vec();
    info.extend_from_slice(secret.public_key().to_encoded_point(false).as_bytes());
    info.extend_from_slice(key_id);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&info, &mut ikm)
        .map_err(|e| e.to_string())?;
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .and_then(|_| prk.expand(b"Content-Encoding: nonce\0", &mut nonce))
        .map_err(|e| e.to_string())?;
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|e| e.to_string())?;
    let mut plain = cipher
        .decrypt(&nonce.into(), ciphertext)
        .map_err(|_| "the body does not decrypt with the subscriber's keys".to_owned())?;
    // Padding: zeros after a delimiter, 2 for the last record.
    while plain.last() == Some(&0) {
        plain.pop();
    }
    if plain.pop() != Some(2) {
        return Err("the record does not end with the last-record delimiter".to_owned());
    }
    Ok(plain)
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
    let Some((secret, auth)) = inner.subscribers.get(&name).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if inner.gone.contains(&name) {
        return StatusCode::GONE.into_response();
    }
    if let Some(n) = inner.fail_next.get_mut(&name).filter(|n| **n > 0) {
        *n -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response();
    }
    let origin = format!("http://{}", header(&headers, "host").unwrap_or_default());
    if let Err(why) = check_vapid(&headers, &origin, &shared.vapid_key) {
        inner.refusals.push(why.clone());
        return (StatusCode::UNAUTHORIZED, why).into_response();
    }
    let checked = (header(&headers, "content-encoding") == Some("aes128gcm"))
        .then_some(())
        .ok_or_else(|| "Content-Encoding is not aes128gcm".to_owned())
        .and_then(|()| {
            header(&headers, "ttl")
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| "no TTL header".to_owned())
        })
        .and_then(|ttl| {
            let plain = decrypt(&body, &secret, &auth)?;
            let payload = serde_json::from_slice(&plain).map_err(|e| format!("payload: {e}"))?;
            Ok((ttl, payload))
        });
    match checked {
        Ok((ttl, payload)) => {
            inner.messages.push(PushMessage {
                subscriber: name.clone(),
                payload,
                ttl,
                urgency: header(&headers, "urgency").map(str::to_owned),
                topic: header(&headers, "topic").map(str::to_owned),
            });
            (
                StatusCode::CREATED,
                [(
                    "location",
                    format!("/messages/{name}/{}", inner.messages.len()),
                )],
            )
                .into_response()
        }
        Err(why) => {
            inner.refusals.push(why.clone());
            (StatusCode::BAD_REQUEST, why).into_response()
        }
    }
}
