//! The email channel: one `DeliverEmail` job per recipient, sent over SMTP
//! with lettre as multipart text + HTML with `List-Unsubscribe` headers. A
//! delivery already `sent` is never sent again; 5xx answers fail it for good,
//! anything else (connection refused, 4xx) is retried.

use super::{
    event::LoadedEvent,
    templates::{TemplateError, Templates},
};
use crate::runtime::{JobContext, JobError, JobHandler};
use fleet_jobs::notify::{DeliverDigest, DeliverEmail};
use fleet_shared::{
    Db,
    config::NotifySettings,
    notify::{Category, Channel, DeliveryState},
};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Mailbox, MultiPart,
        header::{Header, HeaderName, HeaderValue},
    },
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, Tls, TlsParameters},
    },
};
use sha2::{Digest, Sha256};
use std::{sync::Arc, time::Duration};

/// Why the email channel cannot be set up or a message built.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// `notify.smtp_url` is not a usable SMTP URL.
    #[error("notify.smtp_url: {0}")]
    SmtpUrl(String),
    /// `notify.smtp_ca_file` cannot be read or holds no certificate.
    #[error("notify.smtp_ca_file {path}: {message}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// TLS parameters for the host could not be made.
    #[error("TLS for the SMTP server: {0}")]
    Tls(#[source] lettre::transport::smtp::Error),
    /// `notify.email_from` is not a mailbox.
    #[error("notify.email_from `{from}` is not an email address: {source}")]
    Sender {
        /// The setting.
        from: String,
        /// Why.
        source: lettre::address::AddressError,
    },
    /// The recipient's address is not an email address.
    #[error("invalid recipient address: {0}")]
    To(#[source] lettre::address::AddressError),
    /// `notify.unsubscribe_url` is not a URL.
    #[error("notify.unsubscribe_url: {0}")]
    UnsubscribeUrl(#[source] url::ParseError),
    /// A template failed.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// lettre refused to build the message.
    #[error("building the message: {0}")]
    Build(#[source] lettre::error::Error),
}

/// How to reach the SMTP server, from `notify.smtp_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpTarget {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS mode.
    pub tls: TlsMode,
    /// User name and password from the URL, if any.
    pub userinfo: Option<(String, String)>,
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// STARTTLS when the server offers it (`smtp://`).
    Opportunistic,
    /// STARTTLS or fail (`smtp://…?tls=required`).
    Required,
    /// TLS from the first byte (`smtps://`).
    Implicit,
    /// Plain text (`smtp://…?tls=none`, for local sinks).
    None,
}

impl SmtpTarget {
    /// Parses `smtp://[user:pass@]host[:port][?tls=required|none]` or `smtps://…`.
    pub fn parse(raw: &str) -> Result<SmtpTarget, EmailError> {
        let url = url::Url::parse(raw).map_err(|e| EmailError::SmtpUrl(e.to_string()))?;
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return Err(EmailError::SmtpUrl(format!(
                    "scheme `{other}` is neither smtp nor smtps"
                )));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| EmailError::SmtpUrl("no host".to_owned()))?
            .trim_matches(['[', ']'])
            .to_owned();
        let mut tls = if implicit {
            TlsMode::Implicit
        } else {
            TlsMode::Opportunistic
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref(), implicit) {
                ("tls", "required", false) => tls = TlsMode::Required,
                ("tls", "none", false) => tls = TlsMode::None,
                ("tls", "opportunistic", false) => tls = TlsMode::Opportunistic,
                ("tls", other, _) => {
                    return Err(EmailError::SmtpUrl(format!(
                        "tls=`{other}`: use tls=required or tls=none with smtp://, nothing with smtps://"
                    )));
                }
                (other, _, _) => {
                    return Err(EmailError::SmtpUrl(format!("unknown parameter `{other}`")));
                }
            }
        }
        let port = url.port().unwrap_or(if implicit { 465 } else { 25 });
        let userinfo = (!url.username().is_empty()).then(|| {
            (
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or_default()),
            )
        });
        Ok(SmtpTarget {
            host,
            port,
            tls,
            userinfo,
        })
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Builds the SMTP transport for `settings` (the URL's credentials, else `smtp_username`/`smtp_password`).
pub fn transport(
    settings: &NotifySettings,
    url: &str,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailError> {
    let target = SmtpTarget::parse(url)?;
    let extra_root = match &settings.smtp_ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| EmailError::CaFile {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            Some(Certificate::from_pem(&pem).map_err(|e| EmailError::CaFile {
                path: path.display().to_string(),
                message: e.to_string(),
            })?)
        }
        None => None,
    };
    let params = || {
        let mut builder = TlsParameters::builder(target.host.clone());
        if let Some(root) = extra_root.clone() {
            builder = builder.add_root_certificate(root);
        }
        builder.build().map_err(EmailError::Tls)
    };
    let tls = match target.tls {
        TlsMode::Opportunistic => Tls::Opportunistic(params()?),
        TlsMode::Required => Tls::Required(params()?),
        TlsMode::Implicit => Tls::Wrapper(params()?),
        TlsMode::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target.host.clone())
        .port(target.port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)));
    let credentials = target.userinfo.clone().or_else(|| {
        settings
            .smtp_username
            .clone()
            .map(|u| (u, settings.smtp_password.clone().unwrap_or_default()))
    });
    if let Some((user, password)) = credentials {
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok(builder.build())
}

/// The `List-Unsubscribe` header (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The `List-Unsubscribe-Post` header (RFC 8058 one-click).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// The unsubscribe link of `user` for `category`.
pub fn unsubscribe_link(base: &str, user: &str, category: &str) -> Result<String, EmailError> {
    let mut url = url::Url::parse(base).map_err(EmailError::UnsubscribeUrl)?;
    url.query_pairs_mut()
        .append_pair("user", user)
        .append_pair("category", category);
    Ok(url.to_string())
}

/// The Message-ID of an event's email to a user: the same on every attempt.
pub fn message_id(event_id: &str, user_id: &str, domain: &str) -> String {
    let digest = Sha256::digest(format!("{event_id}\n{user_id}").as_bytes());
    let user = hex::encode(&digest[..12]);
    let event: String = event_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    format!("<{event}.{user}@{domain}>")
}

/// What one email says.
#[derive(Debug, Clone)]
pub struct EmailContent<'a> {
    /// What the email is about (an event id, or a digest's key and window): seeds its Message-ID.
    pub about: &'a str,
    /// The category the unsubscribe link mutes.
    pub category: Category,
    /// The recipient's id.
    pub user_id: &'a str,
    /// Their address.
    pub to: &'a str,
    /// The subject and heading.
    pub title: &'a str,
    /// The text.
    pub body: &'a str,
}

/// Builds the message: text and HTML parts around the title and body, unsubscribe headers.
pub fn build_message(
    templates: &Templates,
    settings: &NotifySettings,
    c: &EmailContent<'_>,
) -> Result<Message, EmailError> {
    let from: Mailbox = settings
        .email_from
        .parse()
        .map_err(|source| EmailError::Sender {
            from: settings.email_from.clone(),
            source,
        })?;
    let to: Mailbox = c.to.parse().map_err(EmailError::To)?;
    let unsubscribe = unsubscribe_link(&settings.unsubscribe_url, c.user_id, c.category.as_str())?;
    let (text, html) = templates.email_parts(c.title, c.body, &unsubscribe)?;
    let id = message_id(c.about, c.user_id, from.email.domain());
    Message::builder()
        .from(from)
        .to(to)
        .subject(c.title)
        .message_id(Some(id))
        .header(ListUnsubscribe(format!("<{unsubscribe}>")))
        .header(ListUnsubscribePost)
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(EmailError::Build)
}

/// Runs [`DeliverEmail`] jobs on `notify.email` and the priority lane.
#[derive(Clone)]
pub struct EmailHandler {
    db: Db,
    templates: Arc<Templates>,
    settings: NotifySettings,
    transport: Result<AsyncSmtpTransport<Tokio1Executor>, Arc<EmailError>>,
}

impl std::fmt::Debug for EmailHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The settings and transport hold the SMTP password: never printed.
        f.debug_struct("EmailHandler").finish_non_exhaustive()
    }
}

/// Runs [`DeliverDigest`] jobs on `notify.email`: one email for the events of a digest window.
#[derive(Debug, Clone)]
pub struct DigestHandler(pub EmailHandler);

impl EmailHandler {
    /// A handler sending through `notify.smtp_url` (jobs fail permanently when it is unset or invalid).
    pub fn new(db: Db, templates: Arc<Templates>, settings: NotifySettings) -> Self {
        let transport = match &settings.smtp_url {
            Some(url) => transport(&settings, url).map_err(Arc::new),
            None => Err(Arc::new(EmailError::SmtpUrl("not set".to_owned()))),
        };
        if let (Err(err), Some(_)) = (&transport, &settings.smtp_url) {
            tracing::error!(%err, "the email channel cannot start");
        }
        EmailHandler {
            db,
            templates,
            settings,
            transport,
        }
    }

    /// Sets the email deliveries of `events` to `user_id`.
    async fn settle(
        &self,
        events: &[String],
        user_id: &str,
        state: DeliveryState,
        reason: Option<&str>,
    ) -> Result<(), JobError> {
        for event in events {
            self.db
                .set_delivery(event, Channel::Email, user_id, state, reason)
                .await
                .map_err(JobError::retry)?;
        }
        Ok(())
    }

    /// Fails the deliveries for good, with `reason`.
    async fn fail(&self, events: &[String], user_id: &str, reason: &str) -> Result<(), JobError> {
        self.settle(events, user_id, DeliveryState::Failed, Some(reason))
            .await?;
        Err(JobError::Permanent(reason.to_owned()))
    }

    /// The recipient's address and locale; None (deliveries suppressed) when they have no address.
    async fn recipient(
        &self,
        events: &[String],
        user_id: &str,
    ) -> Result<Option<(String, String)>, JobError> {
        let user = self
            .db
            .notify_user(user_id)
            .await
            .map_err(JobError::retry)?;
        let locale = user
            .as_ref()
            .map_or(self.settings.default_locale.clone(), |u| u.locale.clone());
        match user.and_then(|u| u.email) {
            Some(to) => Ok(Some((to, locale))),
            None => {
                self.settle(
                    events,
                    user_id,
                    DeliveryState::Suppressed,
                    Some("no_email_address"),
                )
                .await?;
                Ok(None)
            }
        }
    }

    /// Builds and sends the email of `events`: sent, failed for good on a
    /// 5xx answer or an unbuildable message, retried otherwise.
    async fn send(&self, events: &[String], c: &EmailContent<'_>) -> Result<(), JobError> {
        let transport = match &self.transport {
            Ok(t) => t,
            Err(err) => return self.fail(events, c.user_id, &err.to_string()).await,
        };
        let message = match build_message(&self.templates, &self.settings, c) {
            Ok(m) => m,
            Err(err) => return self.fail(events, c.user_id, &err.to_string()).await,
        };
        match transport.send(message).await {
            Ok(_) => {
                self.settle(events, c.user_id, DeliveryState::Sent, None)
                    .await?;
                tracing::debug!(about = %c.about, user_id = %c.user_id, "email sent");
                Ok(())
            }
            Err(err) if err.is_permanent() => {
                let reason = format!("rejected by the SMTP server: {err}");
                tracing::warn!(about = %c.about, user_id = %c.user_id, %reason, "email failed");
                self.fail(events, c.user_id, &reason).await
            }
            Err(err) => {
                // Counts the attempt; the state stays queued until it is sent or fails for good.
                self.settle(events, c.user_id, DeliveryState::Queued, None)
                    .await?;
                Err(JobError::Retry(format!("SMTP: {err}")))
            }
        }
    }

    /// Whether the email of `event_id` to `user_id` was sent already.
    async fn sent(&self, event_id: &str, user_id: &str) -> Result<bool, JobError> {
        let state = self
            .db
            .delivery(event_id, Channel::Email, user_id)
            .await
            .map_err(JobError::retry)?;
        Ok(state.is_some_and(|(s, _)| s == DeliveryState::Sent.as_str()))
    }
}

impl JobHandler for EmailHandler {
    type Job = DeliverEmail;

    async fn handle(&self, job: DeliverEmail, _ctx: JobContext) -> Result<(), JobError> {
        if self.sent(&job.event_id, &job.user_id).await? {
            tracing::debug!(event_id = %job.event_id, user_id = %job.user_id, "email already sent");
            return Ok(());
        }
        let events = [job.event_id.clone()];
        let event = LoadedEvent::load(&self.db, &job.event_id).await?;
        let Some((to, locale)) = self.recipient(&events, &job.user_id).await? else {
            return Ok(());
        };
        let texts = self
            .templates
            .texts(&locale, event.event_type.as_str(), &event.data);
        let (title, body) = match texts {
            Ok(t) => t,
            Err(err) => return self.fail(&events, &job.user_id, &err.to_string()).await,
        };
        let content = EmailContent {
            about: &event.row.id,
            category: event.event_type.category(),
            user_id: &job.user_id,
            to: &to,
            title: &title,
            body: &body,
        };
        self.send(&events, &content).await
    }
}

impl JobHandler for DigestHandler {
    type Job = DeliverDigest;

    async fn handle(&self, job: DeliverDigest, _ctx: JobContext) -> Result<(), JobError> {
        let email = &self.0;
        let rows = email
            .db
            .digest_events(&job.user_id, &job.digest_key, job.window_start)
            .await
            .map_err(JobError::retry)?;
        let mut events = Vec::new();
        for row in rows {
            if !email.sent(&row.id, &job.user_id).await? {
                events.push(LoadedEvent::from_row(row)?);
            }
        }
        let ids: Vec<String> = events.iter().map(|e| e.row.id.clone()).collect();
        let Some(first) = events.first() else {
            return Ok(());
        };
        let Some((to, locale)) = email.recipient(&ids, &job.user_id).await? else {
            return Ok(());
        };
        // One line per event, under a title counting them.
        let texts = events
            .iter()
            .map(|e| {
                let (title, body) =
                    email
                        .templates
                        .texts(&locale, e.event_type.as_str(), &e.data)?;
                Ok(format!("{title}: {body}"))
            })
            .collect::<Result<Vec<_>, TemplateError>>()
            .and_then(|lines| {
                let count = serde_json::json!({ "count": lines.len() });
                let title = email.templates.render(&locale, "digest", "title", &count)?;
                Ok((title, lines.join("\n")))
            });
        let (title, body) = match texts {
            Ok(t) => t,
            Err(err) => return email.fail(&ids, &job.user_id, &err.to_string()).await,
        };
        let about = format!("digest-{}-{}", job.digest_key, job.window_start);
        let content = EmailContent {
            about: &about,
            category: first.event_type.category(),
            user_id: &job.user_id,
            to: &to,
            title: &title,
            body: &body,
        };
        email.send(&ids, &content).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_choose_the_tls_mode() {
        let t = SmtpTarget::parse("smtp://mail.example.com").unwrap();
        assert_eq!((t.port, t.tls), (25, TlsMode::Opportunistic));
        let t = SmtpTarget::parse("smtp://mail.example.com:587?tls=required").unwrap();
        assert_eq!((t.port, t.tls), (587, TlsMode::Required));
        let t = SmtpTarget::parse("smtps://u%40x:p%2Fw@mail.example.com").unwrap();
        assert_eq!((t.port, t.tls), (465, TlsMode::Implicit));
        assert_eq!(t.userinfo, Some(("u@x".to_owned(), "p/w".to_owned())));
        let t = SmtpTarget::parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!((t.host.as_str(), t.tls), ("127.0.0.1", TlsMode::None));
        assert!(SmtpTarget::parse("http://x").is_err());
        assert!(SmtpTarget::parse("smtp://x?tls=maybe").is_err());
        assert!(SmtpTarget::parse("smtps://x?tls=none").is_err());
    }

    #[test]
    fn messages_are_multipart_with_unsubscribe_headers_and_a_stable_id() {
        let templates = Templates::builtin("en");
        let settings = NotifySettings {
            unsubscribe_url: "https://shop.example/unsub?src=mail".to_owned(),
            ..NotifySettings::default()
        };
        let content = EmailContent {
            about: "ev_1",
            category: Category::FollowedSellers,
            user_id: "u 1",
            to: "u1@example.com",
            title: "Vera listed a new item",
            body: "<b>Coat</b> & hat for €40",
        };
        let raw = String::from_utf8(
            build_message(&templates, &settings, &content)
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(raw.contains("Subject: Vera listed a new item"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains(
            "List-Unsubscribe: <https://shop.example/unsub?src=mail&user=u+1&category=followed_sellers>"
        ), "{raw}");
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains(&format!(
            "Message-ID: {}",
            message_id("ev_1", "u 1", "localhost")
        )));
        assert_eq!(
            message_id("ev_1", "u 1", "x.org"),
            message_id("ev_1", "u 1", "x.org")
        );
        assert_ne!(
            message_id("ev_1", "u 1", "x.org"),
            message_id("ev_1", "u 2", "x.org")
        );
    }
}
