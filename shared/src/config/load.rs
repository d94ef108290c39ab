//! Reading the TOML file and `FLEET_*` variables into a [`Config`].

use super::Config;
use std::path::{Path, PathBuf};

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A setting has a value of the wrong type or an unknown name.
    #[error("invalid setting `{setting}` (env {env}): {message}")]
    Invalid {
        /// Dotted path of the setting.
        setting: String,
        /// The environment variable that sets it.
        env: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    fn invalid(setting: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            setting: setting.to_owned(),
            env: env_name(setting),
            message: message.into(),
        }
    }
}

/// The environment variable for a dotted setting path.
pub fn env_name(setting: &str) -> String {
    format!("FLEET_{}", setting.replace('.', "__").to_uppercase())
}

pub(super) fn load(
    file: Option<&Path>,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    // The defaults are the base, so a setting given for one field of a
    // section (`kinds.media.max_replicas`) keeps that section's other defaults
    // (media's concurrency 2, not the generic 8).
    let mut table = toml::Table::try_from(Config::default()).unwrap_or_default();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let from_file = text
            .parse::<toml::Table>()
            .map_err(|e| ConfigError::Syntax {
                path: path.to_owned(),
                message: e.message().to_owned(),
            })?;
        merge(&mut table, from_file);
    }
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("FLEET_") else {
            continue;
        };
        // FLEET_CONFIG names the file; FLEET_TEST_* belong to the test suite.
        if rest == "CONFIG" || rest.is_empty() || rest.starts_with("TEST_") {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        insert(&mut table, &path, env_value(&value));
    }
    let config: Config =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let setting = e.path().to_string();
            ConfigError::invalid(&setting, e.into_inner().to_string())
        })?;
    validate(&config)?;
    Ok(config)
}

/// Environment values are strings; numbers, booleans and TOML lists (`[320, 640]`) are
/// recognised so typed settings parse.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = raw.parse::<f64>()
        && raw.contains('.')
    {
        return toml::Value::Float(f);
    }
    if let Ok(b) = raw.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if raw.trim_start().starts_with('[')
        && let Ok(mut parsed) = format!("v = {raw}").parse::<toml::Table>()
        && let Some(list) = parsed.remove("v")
    {
        return list;
    }
    toml::Value::String(raw.to_owned())
}

/// Lays `overlay` over `base`: tables merge key by key, any other value replaces.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over)) => merge(inner, over),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn insert(table: &mut toml::Table, path: &[String], value: toml::Value) {
    match path {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    let url = config.database_url();
    if !(url.starts_with("postgres://")
        || url.starts_with("postgresql://")
        || url.starts_with("sqlite:"))
    {
        return Err(ConfigError::invalid(
            "database_url",
            format!(
                "`{}` is neither postgres://… nor sqlite://…",
                super::mask_url_password(&url)
            ),
        ));
    }
    if !(1..=1_000).contains(&config.database_max_connections) {
        return Err(ConfigError::invalid(
            "database_max_connections",
            "must be between 1 and 1000",
        ));
    }
    if let Some(redis) = &config.redis_url
        && !(redis.starts_with("redis://") || redis.starts_with("rediss://"))
    {
        return Err(ConfigError::invalid(
            "redis_url",
            "must start with redis:// or rediss://",
        ));
    }
    let blob = config.blob_url();
    if !(blob.starts_with("file://") || blob.starts_with("s3://")) {
        return Err(ConfigError::invalid(
            "blob_url",
            "must start with file:// or s3://",
        ));
    }
    if let Some(smtp) = &config.notify.smtp_url
        && !(smtp.starts_with("smtp://") || smtp.starts_with("smtps://"))
    {
        return Err(ConfigError::invalid(
            "notify.smtp_url",
            "must start with smtp:// or smtps://",
        ));
    }
    if config.notify.vapid_private_key.is_some() {
        crate::vapid::VapidKey::from_config(config).map_err(|_| {
            ConfigError::invalid(
                "notify.vapid_private_key",
                "must be a P-256 private key, 32 bytes base64url (`npx web-push generate-vapid-keys` prints one)",
            )
        })?;
    }
    if !(config.notify.vapid_subject.starts_with("mailto:")
        || config.notify.vapid_subject.starts_with("https://"))
    {
        return Err(ConfigError::invalid(
            "notify.vapid_subject",
            "must be a mailto: or https: URL push services can reach the operator at",
        ));
    }
    let export = &config.export;
    if !(1..=1_000).contains(&export.chunk_size) {
        return Err(ConfigError::invalid(
            "export.chunk_size",
            "must be from 1 to 1000 listings",
        ));
    }
    for (setting, url) in [
        ("export.shopify_api_base", &export.shopify_api_base),
        ("export.amazon_api_base", &export.amazon_api_base),
        ("export.amazon_token_url", &export.amazon_token_url),
        ("export.etsy_api_base", &export.etsy_api_base),
        ("export.etsy_token_url", &export.etsy_token_url),
    ] {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError::invalid(
                setting,
                "must start with https:// (or http:// for a local fake)",
            ));
        }
    }
    if config.redis_url.is_none() && !url.starts_with("sqlite:") {
        return Err(ConfigError::invalid(
            "redis_url",
            "queues need Redis when the database is PostgreSQL: set FLEET_REDIS_URL",
        ));
    }
    let q = &config.queue;
    if q.lease_secs == 0 {
        return Err(ConfigError::invalid(
            "queue.lease_secs",
            "must be at least 1",
        ));
    }
    if q.fetch_batch == 0 || q.fetch_batch > 1_000 {
        return Err(ConfigError::invalid(
            "queue.fetch_batch",
            "must be between 1 and 1000",
        ));
    }
    if q.idle_poll_ms == 0 {
        return Err(ConfigError::invalid(
            "queue.idle_poll_ms",
            "must be at least 1",
        ));
    }
    for kind in fleet_jobs::WorkerKind::ALL {
        let k = config.kinds.of(kind);
        let name = |field: &str| format!("kinds.{kind}.{field}");
        if k.concurrency == 0 {
            return Err(ConfigError::invalid(
                &name("concurrency"),
                "must be at least 1",
            ));
        }
        if k.max_attempts == 0 {
            return Err(ConfigError::invalid(
                &name("max_attempts"),
                "must be at least 1",
            ));
        }
        if k.timeout_secs == 0 {
            return Err(ConfigError::invalid(
                &name("timeout_secs"),
                "must be at least 1",
            ));
        }
        if k.min_replicas > k.max_replicas {
            return Err(ConfigError::invalid(
                &name("min_replicas"),
                "must not exceed max_replicas",
            ));
        }
        if !(0.0..=1.0).contains(&k.backoff_jitter) {
            return Err(ConfigError::invalid(
                &name("backoff_jitter"),
                "must be between 0.0 and 1.0",
            ));
        }
        if k.target_per_replica == 0 {
            return Err(ConfigError::invalid(
                &name("target_per_replica"),
                "must be at least 1",
            ));
        }
    }
    config
        .payout
        .cron()
        .map_err(|e| ConfigError::invalid("payout.schedule", e))?;
    for (setting, value, check) in [
        (
            "payout.sepa_debtor_iban",
            &config.payout.sepa_debtor_iban,
            crate::payout::bank::check_iban as fn(&str) -> Result<String, String>,
        ),
        (
            "payout.sepa_debtor_bic",
            &config.payout.sepa_debtor_bic,
            crate::payout::bank::check_bic,
        ),
    ] {
        if let Some(value) = value {
            check(value).map_err(|e| ConfigError::invalid(setting, e))?;
        }
    }
    if config.supervise.interval_ms < 100 {
        return Err(ConfigError::invalid(
            "supervise.interval_ms",
            "must be at least 100",
        ));
    }
    if config.payout.fee_percent_bps > 10_000 {
        return Err(ConfigError::invalid(
            "payout.fee_percent_bps",
            "must be at most 10000 (100%)",
        ));
    }
    if config.payout.fee_fixed_minor < 0 {
        return Err(ConfigError::invalid(
            "payout.fee_fixed_minor",
            "must not be negative",
        ));
    }
    if config.payout.hold_days > 365 {
        return Err(ConfigError::invalid(
            "payout.hold_days",
            "must be at most 365",
        ));
    }
    let n = &config.notify;
    if !(1..=50_000).contains(&n.fanout_chunk) {
        return Err(ConfigError::invalid(
            "notify.fanout_chunk",
            "must be between 1 and 50000",
        ));
    }
    if n.max_user_ids == 0 {
        return Err(ConfigError::invalid(
            "notify.max_user_ids",
            "must be at least 1",
        ));
    }
    if n.webhook_timeout_secs == 0 {
        return Err(ConfigError::invalid(
            "notify.webhook_timeout_secs",
            "must be at least 1",
        ));
    }
    if config.api.rate_limit_per_sec == 0 {
        return Err(ConfigError::invalid(
            "api.rate_limit_per_sec",
            "must be at least 1",
        ));
    }
    let m = &config.media;
    if m.image_sizes.is_empty() || m.image_sizes.iter().any(|s| !(16..=8192).contains(s)) {
        return Err(ConfigError::invalid(
            "media.image_sizes",
            "must list sizes between 16 and 8192 pixels",
        ));
    }
    for (name, quality) in [
        ("media.jpeg_quality", m.jpeg_quality),
        ("media.webp_quality", m.webp_quality),
    ] {
        if !(1..=100).contains(&quality) {
            return Err(ConfigError::invalid(name, "must be between 1 and 100"));
        }
    }
    if m.max_megapixels == 0 {
        return Err(ConfigError::invalid(
            "media.max_megapixels",
            "must be at least 1",
        ));
    }
    if !super::X264_PRESETS.contains(&m.video_preset.as_str()) {
        return Err(ConfigError::invalid(
            "media.video_preset",
            format!("must be one of {}", super::X264_PRESETS.join(", ")),
        ));
    }
    if m.video_crf > 51 {
        return Err(ConfigError::invalid(
            "media.video_crf",
            "must be between 0 and 51",
        ));
    }
    if !(32..=512).contains(&m.video_audio_kbps) {
        return Err(ConfigError::invalid(
            "media.video_audio_kbps",
            "must be between 32 and 512",
        ));
    }
    if m.max_video_secs == 0
        || m.max_video_short_side < 16
        || m.max_video_long_side < m.max_video_short_side
    {
        return Err(ConfigError::invalid(
            "media.max_video_secs",
            "video limits must be positive, with max_video_long_side >= max_video_short_side >= 16",
        ));
    }
    if m.video_threads > 64 {
        return Err(ConfigError::invalid(
            "media.video_threads",
            "must be between 0 (automatic) and 64",
        ));
    }
    validate_categorize(&config.categorize)
}

fn validate_categorize(c: &super::CategorizeSettings) -> Result<(), ConfigError> {
    let ranges: [(&str, usize, usize, usize); 5] = [
        ("categorize.max_tokens", c.max_tokens, 8, 512),
        ("categorize.batch_size", c.batch_size, 1, 1024),
        (
            "categorize.max_text_bytes",
            c.max_text_bytes,
            64,
            1024 * 1024,
        ),
        ("categorize.suggestions", c.suggestions, 1, 50),
        ("categorize.openai.shortlist", c.openai.shortlist, 2, 100),
    ];
    for (name, value, min, max) in ranges {
        if !(min..=max).contains(&value) {
            return Err(ConfigError::invalid(
                name,
                format!("must be between {min} and {max}"),
            ));
        }
    }
    if !(0.0..=1.0).contains(&c.apply_threshold) {
        return Err(ConfigError::invalid(
            "categorize.apply_threshold",
            "must be between 0.0 and 1.0",
        ));
    }
    if c.openai.timeout_secs == 0 {
        return Err(ConfigError::invalid(
            "categorize.openai.timeout_secs",
            "must be at least 1",
        ));
    }
    if url::Url::parse(&c.openai.base_url).is_err() {
        return Err(ConfigError::invalid(
            "categorize.openai.base_url",
            "must be an absolute URL (`https://api.openai.com/v1`)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KindSettings;

    fn vars(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn defaults_are_valid() {
        let config = load(None, vars(&[])).unwrap();
        assert!(config.database_url().starts_with("sqlite://"));
        assert_eq!(config.kinds.media.concurrency, 2);
    }

    #[test]
    fn one_setting_of_a_section_keeps_its_other_defaults() {
        let defaults = Config::default().kinds;
        let config = load(None, vars(&[("FLEET_KINDS__MEDIA__MAX_REPLICAS", "6")])).unwrap();
        assert_eq!(config.kinds.media.max_replicas, 6);
        assert_eq!(
            config.kinds.media,
            KindSettings {
                max_replicas: 6,
                ..defaults.media.clone()
            },
            "media keeps its own concurrency, timeout and scaling"
        );
        assert_eq!(config.kinds.media.concurrency, 2);
        assert_eq!(config.kinds.media.min_replicas, 1);
        let dir = std::env::temp_dir().join(format!("fleet-config-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("fleet.toml");
        std::fs::write(
            &file,
            "[kinds.export]\nconcurrency = 3\n[supervise]\ninterval_ms = 900\n",
        )
        .unwrap();
        let config = load(Some(&file), vars(&[])).unwrap();
        assert_eq!(config.kinds.export.concurrency, 3);
        assert_eq!(
            config.kinds.export.timeout_secs,
            defaults.export.timeout_secs
        );
        assert_eq!(
            config.kinds.export.max_attempts,
            defaults.export.max_attempts
        );
        assert_eq!(config.supervise.interval_ms, 900);
        assert_eq!(config.supervise.scale_down_window_secs, 60);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn defaults_round_trip_through_toml() {
        let table = toml::Table::try_from(Config::default()).expect("the defaults serialise");
        let back: Config = toml::Value::Table(table).try_into().expect("and read back");
        assert_eq!(
            format!("{back:?}"),
            format!("{:?}", Config::default()),
            "loading from the serialised defaults changes nothing"
        );
    }

    #[test]
    fn env_overrides_nested_settings() {
        let config = load(
            None,
            vars(&[
                ("FLEET_KINDS__MEDIA__CONCURRENCY", "7"),
                ("FLEET_QUEUE__LEASE_SECS", "3"),
                ("FLEET_LOG", "debug"),
                ("OTHER", "x"),
                ("FLEET_TEST_REDIS_URL", "redis://elsewhere"),
            ]),
        )
        .unwrap();
        assert_eq!(config.kinds.media.concurrency, 7);
        assert_eq!(config.queue.lease_secs, 3);
        assert_eq!(config.log, "debug");
    }

    #[test]
    fn wrong_type_names_the_setting_and_variable() {
        let err = load(None, vars(&[("FLEET_KINDS__MEDIA__CONCURRENCY", "many")])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("kinds.media.concurrency"), "{text}");
        assert!(text.contains("FLEET_KINDS__MEDIA__CONCURRENCY"), "{text}");
    }

    #[test]
    fn unknown_setting_is_rejected() {
        let err = load(None, vars(&[("FLEET_DATABSE_URL", "postgres://x")])).unwrap_err();
        assert!(err.to_string().contains("databse_url"), "{err}");
    }

    #[test]
    fn lists_and_floats_come_from_the_environment() {
        let config = load(
            None,
            vars(&[
                ("FLEET_MEDIA__IMAGE_SIZES", "[300, 600]"),
                ("FLEET_KINDS__MEDIA__BACKOFF_JITTER", "0.25"),
            ]),
        )
        .unwrap();
        assert_eq!(config.media.image_sizes, vec![300, 600]);
        assert_eq!(config.kinds.media.backoff_jitter, 0.25);
    }

    #[test]
    fn invalid_values_fail_validation() {
        let err = load(None, vars(&[("FLEET_DATABASE_URL", "mysql://x")])).unwrap_err();
        assert!(err.to_string().contains("database_url"));
        let err = load(
            None,
            vars(&[("FLEET_DATABASE_URL", "postgres://localhost/x")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("FLEET_REDIS_URL"), "{err}");
        let err = load(None, vars(&[("FLEET_DATABASE_MAX_CONNECTIONS", "0")])).unwrap_err();
        assert!(
            err.to_string().contains("FLEET_DATABASE_MAX_CONNECTIONS"),
            "{err}"
        );
        let err = load(None, vars(&[("FLEET_KINDS__PAYOUT__MAX_ATTEMPTS", "0")])).unwrap_err();
        assert!(err.to_string().contains("kinds.payout.max_attempts"));
        let err = load(
            None,
            vars(&[("FLEET_NOTIFY__VAPID_PRIVATE_KEY", "c2hvcnQ")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("FLEET_NOTIFY__VAPID_PRIVATE_KEY"),
            "{err}"
        );
        let err = load(None, vars(&[("FLEET_NOTIFY__VAPID_SUBJECT", "ops@x")])).unwrap_err();
        assert!(err.to_string().contains("notify.vapid_subject"), "{err}");
    }

    #[test]
    fn categorize_settings_from_env() {
        let config = load(
            None,
            vars(&[
                ("FLEET_CATEGORIZE__MODEL_DIR", "/opt/minilm"),
                ("FLEET_CATEGORIZE__PROVIDER", "openai"),
                ("FLEET_CATEGORIZE__APPLY_THRESHOLD", "0.75"),
                (
                    "FLEET_CATEGORIZE__OPENAI__BASE_URL",
                    "http://127.0.0.1:11434/v1",
                ),
                ("FLEET_CATEGORIZE__OPENAI__API_KEY", "sk-secret-value"),
            ]),
        )
        .unwrap();
        let c = &config.categorize;
        assert_eq!(
            c.model_dir.as_deref(),
            Some(std::path::Path::new("/opt/minilm"))
        );
        assert_eq!(c.provider, crate::config::CategorizeProvider::Openai);
        assert_eq!(c.apply_threshold, 0.75);
        let shown = config.to_masked_toml();
        assert!(!shown.contains("sk-secret-value"), "{shown}");
        let err = load(None, vars(&[("FLEET_CATEGORIZE__APPLY_THRESHOLD", "1.5")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("FLEET_CATEGORIZE__APPLY_THRESHOLD"),
            "{err}"
        );
        let err = load(None, vars(&[("FLEET_CATEGORIZE__PROVIDER", "magic")])).unwrap_err();
        assert!(err.to_string().contains("categorize.provider"), "{err}");
        let err = load(None, vars(&[("FLEET_CATEGORIZE__MODEL", "x")])).unwrap_err();
        assert!(err.to_string().contains("categorize"), "{err}");
    }

    #[test]
    fn payout_settings_from_env() {
        let config = load(
            None,
            vars(&[
                ("FLEET_PAYOUT__FEE_PERCENT_BPS", "250"),
                ("FLEET_PAYOUT__HOLD_DAYS", "0"),
                ("FLEET_PAYOUT__MINIMUM_PAYOUT__CHF", "2000"),
            ]),
        )
        .unwrap();
        assert_eq!(config.payout.fee_percent_bps, 250);
        assert_eq!(config.payout.hold_days, 0);
        assert_eq!(config.payout.minimum_payout.get("CHF"), Some(&2000));
        let err = load(None, vars(&[("FLEET_PAYOUT__FEE_PERCENT_BPS", "10001")])).unwrap_err();
        assert!(
            err.to_string().contains("FLEET_PAYOUT__FEE_PERCENT_BPS"),
            "{err}"
        );
        let err = load(None, vars(&[("FLEET_PAYOUT__MINIMUM_PAYOUT__EURO", "1")])).unwrap_err();
        assert!(err.to_string().contains("payout.minimum_payout"), "{err}");
        let config = load(
            None,
            vars(&[
                ("FLEET_PAYOUT__PROVIDER", "stripe"),
                ("FLEET_PAYOUT__SCHEDULE", "0 30 5 * * Mon-Fri"),
                ("FLEET_PAYOUT__STRIPE_SECRET_KEY", "sk_test_abc"),
                (
                    "FLEET_PAYOUT__SEPA_DEBTOR_IBAN",
                    "DE89 3704 0044 0532 0130 00",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.payout.provider,
            crate::config::PayoutProvider::Stripe
        );
        assert!(!config.to_masked_toml().contains("sk_test_abc"));
        for (name, value, setting) in [
            ("FLEET_PAYOUT__SCHEDULE", "daily", "payout.schedule"),
            ("FLEET_PAYOUT__PROVIDER", "paypal", "payout.provider"),
            (
                "FLEET_PAYOUT__SEPA_DEBTOR_IBAN",
                "DE00370400440532013000",
                "payout.sepa_debtor_iban",
            ),
            (
                "FLEET_PAYOUT__SEPA_DEBTOR_BIC",
                "BANK",
                "payout.sepa_debtor_bic",
            ),
        ] {
            let err = load(None, vars(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(setting), "{err}");
        }
    }

    #[test]
    fn file_then_env() {
        let dir = std::env::temp_dir().join(format!("fleet-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fleet.toml");
        std::fs::write(&path, "log = \"warn\"\n[kinds.notify]\nconcurrency = 3\n").unwrap();
        let config = load(Some(&path), vars(&[("FLEET_LOG", "error")])).unwrap();
        assert_eq!(config.log, "error");
        assert_eq!(config.kinds.notify.concurrency, 3);
        std::fs::write(&path, "log = [").unwrap();
        assert!(matches!(
            load(Some(&path), vars(&[])),
            Err(ConfigError::Syntax { .. })
        ));
    }

    #[test]
    fn masks_secrets() {
        let config = load(
            None,
            vars(&[
                ("FLEET_DATABASE_URL", "postgres://fleet:hunter2@db/fleet"),
                ("FLEET_REDIS_URL", "redis://:s3cret@cache:6379"),
                ("FLEET_SECRET_KEY", "topsecret"),
            ]),
        )
        .unwrap();
        let shown = config.to_masked_toml();
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret") && !shown.contains("topsecret")
        );
        assert!(shown.contains("postgres://fleet:***@db/fleet"), "{shown}");
    }
}
