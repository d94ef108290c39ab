//! Notification texts: one minijinja template per event type, part (title,
//! body) and language, chosen by the recipient's locale (`pt-BR`, then `pt`,
//! then the configured default language).

use minijinja::Environment;
use serde_json::Value;

/// Built-in templates: (language, event type, part, source).
const BUILTIN: &[(&str, &str, &str, &str)] = &[
    (
        "en",
        "digest",
        "title",
        "{{ count }} new notification{% if count != 1 %}s{% endif %}",
    ),
    (
        "fr",
        "digest",
        "title",
        "{{ count }} nouvelle{% if count != 1 %}s{% endif %} notification{% if count != 1 %}s{% endif %}",
    ),
    (
        "en",
        "new_listing",
        "title",
        "{{ actor_name or 'A seller you follow' }} listed a new item",
    ),
    (
        "en",
        "new_listing",
        "body",
        "{{ title or 'A new item' }}{% if price %} for {{ price }}{% endif %}",
    ),
    (
        "en",
        "price_drop",
        "title",
        "Price drop on an item you like",
    ),
    (
        "en",
        "price_drop",
        "body",
        "{{ title or 'An item you like' }} is now {{ price or 'cheaper' }}",
    ),
    ("en", "item_sold", "title", "You sold an item"),
    (
        "en",
        "item_sold",
        "body",
        "{{ title or 'Your item' }} has sold{% if price %} for {{ price }}{% endif %}",
    ),
    ("en", "payout_sent", "title", "Payout sent"),
    (
        "en",
        "payout_sent",
        "body",
        "{{ amount or 'Your payout' }} is on its way to your bank",
    ),
    (
        "en",
        "new_message",
        "title",
        "New message{% if actor_name %} from {{ actor_name }}{% endif %}",
    ),
    (
        "en",
        "new_message",
        "body",
        "{{ preview or 'Open the app to read it' }}",
    ),
    (
        "fr",
        "new_listing",
        "title",
        "{{ actor_name or 'Un vendeur que vous suivez' }} a publié un nouvel article",
    ),
    (
        "fr",
        "new_listing",
        "body",
        "{{ title or 'Un nouvel article' }}{% if price %} à {{ price }}{% endif %}",
    ),
    (
        "fr",
        "price_drop",
        "title",
        "Baisse de prix sur un article que vous aimez",
    ),
    (
        "fr",
        "price_drop",
        "body",
        "{{ title or 'Un article que vous aimez' }} est maintenant à {{ price or 'moins cher' }}",
    ),
    ("fr", "item_sold", "title", "Vous avez vendu un article"),
    (
        "fr",
        "item_sold",
        "body",
        "{{ title or 'Votre article' }} est vendu{% if price %} pour {{ price }}{% endif %}",
    ),
    ("fr", "payout_sent", "title", "Virement envoyé"),
    (
        "fr",
        "payout_sent",
        "body",
        "{{ amount or 'Votre virement' }} est en route vers votre banque",
    ),
    (
        "fr",
        "new_message",
        "title",
        "Nouveau message{% if actor_name %} de {{ actor_name }}{% endif %}",
    ),
    (
        "fr",
        "new_message",
        "body",
        "{{ preview or 'Ouvrez l’application pour le lire' }}",
    ),
];

/// The email layouts around a rendered title and body: the `.html` one is
/// autoescaped by minijinja, so event data never becomes markup.
const EMAIL_LAYOUTS: &[(&str, &str)] = &[
    (
        "email.txt",
        "{{ body }}\n\n--\nUnsubscribe: {{ unsubscribe }}\n",
    ),
    (
        "email.html",
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{{ title }}</title></head>\n\
         <body>\n<h1>{{ title }}</h1>\n<p style=\"white-space: pre-line\">{{ body }}</p>\n\
         <p><small><a href=\"{{ unsubscribe }}\">Unsubscribe</a></small></p>\n</body></html>\n",
    ),
];

/// Why a text could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// No template for the type in the locale nor the default language.
    #[error("no `{part}` template for `{event_type}` in `{locale}` or the default language")]
    Missing {
        /// Event type.
        event_type: String,
        /// Part.
        part: String,
        /// Locale asked for.
        locale: String,
    },
    /// The template failed on this data.
    #[error("template `{name}` failed: {source}")]
    Render {
        /// Template name.
        name: String,
        /// The engine's error.
        source: minijinja::Error,
    },
}

/// The loaded templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    default_locale: String,
}

impl Templates {
    /// The built-in templates, falling back to `default_locale`.
    pub fn builtin(default_locale: &str) -> Templates {
        let mut env = Environment::new();
        for (lang, event_type, part, source) in BUILTIN {
            // The built-ins are checked by the tests below; a broken one is skipped, not a crash.
            if let Err(err) = env.add_template_owned(format!("{lang}/{event_type}/{part}"), *source)
            {
                tracing::error!(%err, "invalid built-in template");
            }
        }
        for (name, source) in EMAIL_LAYOUTS {
            if let Err(err) = env.add_template(name, source) {
                tracing::error!(%err, "invalid built-in email layout");
            }
        }
        Templates {
            env,
            default_locale: default_locale.to_owned(),
        }
    }

    /// The template name used for `locale`: exact tag, then its language, then the default.
    fn name(&self, locale: &str, event_type: &str, part: &str) -> Option<String> {
        let lower = locale.to_ascii_lowercase();
        let language = lower.split('-').next().unwrap_or_default().to_owned();
        [lower, language, self.default_locale.clone()]
            .into_iter()
            .map(|l| format!("{l}/{event_type}/{part}"))
            .find(|name| self.env.get_template(name).is_ok())
    }

    /// Renders `part` of `event_type` for `locale` with the event's `data` (and `actor`).
    pub fn render(
        &self,
        locale: &str,
        event_type: &str,
        part: &str,
        data: &Value,
    ) -> Result<String, TemplateError> {
        let name = self
            .name(locale, event_type, part)
            .ok_or_else(|| TemplateError::Missing {
                event_type: event_type.to_owned(),
                part: part.to_owned(),
                locale: locale.to_owned(),
            })?;
        let render = |name: &str| self.env.get_template(name).and_then(|t| t.render(data));
        render(&name).map_err(|source| TemplateError::Render { name, source })
    }

    /// The title and body of an `event_type` notification for `locale`.
    pub fn texts(
        &self,
        locale: &str,
        event_type: &str,
        data: &Value,
    ) -> Result<(String, String), TemplateError> {
        Ok((
            self.render(locale, event_type, "title", data)?,
            self.render(locale, event_type, "body", data)?,
        ))
    }

    /// The text and HTML parts of an email with this title, body and unsubscribe link.
    pub fn email_parts(
        &self,
        title: &str,
        body: &str,
        unsubscribe: &str,
    ) -> Result<(String, String), TemplateError> {
        let ctx = minijinja::context! { title, body, unsubscribe };
        let render = |name: &str| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(&ctx))
                .map_err(|source| TemplateError::Render {
                    name: name.to_owned(),
                    source,
                })
        };
        Ok((render("email.txt")?, render("email.html")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_builtin_renders_and_locales_fall_back() {
        let t = Templates::builtin("en");
        for (lang, event_type, part, _) in BUILTIN {
            t.render(lang, event_type, part, &json!({})).unwrap();
        }
        let data = json!({"title": "Vélo", "price": "40 €"});
        assert_eq!(
            t.render("fr-CA", "item_sold", "body", &data).unwrap(),
            "Vélo est vendu pour 40 €"
        );
        assert_eq!(
            t.render("de", "item_sold", "body", &data).unwrap(),
            "Vélo has sold for 40 €"
        );
        assert!(matches!(
            t.render("en", "nope", "body", &data),
            Err(TemplateError::Missing { .. })
        ));
    }

    #[test]
    fn email_html_is_escaped_and_text_is_not() {
        let t = Templates::builtin("en");
        let (text, html) = t
            .email_parts(
                "Tom & Jerry",
                "<script>x</script>",
                "https://u.test/?a=1&b=2",
            )
            .unwrap();
        assert!(text.starts_with("<script>x</script>\n"), "{text}");
        assert!(text.contains("Unsubscribe: https://u.test/?a=1&b=2"));
        assert!(html.contains("<h1>Tom &amp; Jerry</h1>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("href=\"https:&#x2f;&#x2f;u.test&#x2f;?a=1&amp;b=2\"")
                || html.contains("href=\"https://u.test/?a=1&amp;b=2\""),
            "{html}"
        );
    }
}
