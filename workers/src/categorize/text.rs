//! Listing text as the classifiers read it: truncated on a character
//! boundary, lower-cased, accents folded, split into words, plurals stemmed.

/// Truncates `s` to at most `max` bytes without splitting a character.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Lower-cases and folds the accents of Latin letters (`é` → `e`, `ß` → `ss`, `œ` → `oe`).
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        for lower in ch.to_lowercase() {
            match lower {
                'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' | 'ă' => out.push('a'),
                'ç' | 'ć' | 'č' => out.push('c'),
                'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => out.push('e'),
                'ì' | 'í' | 'î' | 'ï' | 'ī' => out.push('i'),
                'ñ' | 'ń' | 'ň' => out.push('n'),
                'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => out.push('o'),
                'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => out.push('u'),
                'ý' | 'ÿ' => out.push('y'),
                'ś' | 'š' => out.push('s'),
                'ź' | 'ż' | 'ž' => out.push('z'),
                'ł' => out.push('l'),
                'ř' => out.push('r'),
                'ß' => out.push_str("ss"),
                'œ' => out.push_str("oe"),
                'æ' => out.push_str("ae"),
                '’' | '`' | '´' => out.push('\''),
                other => out.push(other),
            }
        }
    }
    out
}

/// Words of a folded text: runs of letters and digits; a final `'s` dropped, other apostrophes split.
pub fn words(folded: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in folded.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
        let w = raw.trim_matches('\'');
        let w = w.strip_suffix("'s").unwrap_or(w);
        // Elisions (`d'ete`, `l'oreal`) are two words.
        for part in w.split('\'') {
            if !part.is_empty() {
                out.push(part.to_owned());
            }
        }
    }
    out
}

/// `-ves` plurals of the taxonomy's and sellers' words, with their singulars.
const F_PLURALS: &[(&str, &str)] = &[
    ("scarves", "scarf"),
    ("knives", "knife"),
    ("shelves", "shelf"),
    ("leaves", "leaf"),
    ("halves", "half"),
    ("wolves", "wolf"),
    ("calves", "calf"),
    ("loaves", "loaf"),
    ("hooves", "hoof"),
    ("wives", "wife"),
];

/// A crude English stem: plural endings removed so `shoes`/`shoe`, `dresses`/`dress` meet.
pub fn stem(word: &str) -> String {
    let w = word;
    if w.len() <= 3 || w.chars().any(|c| c.is_ascii_digit()) {
        return w.to_owned();
    }
    // Plurals in -ves whose singular ends in -f or -fe ("gloves" keeps its e).
    if let Some((_, singular)) = F_PLURALS.iter().find(|(plural, _)| *plural == w) {
        return (*singular).to_owned();
    }
    for (suffix, replacement) in [
        ("ies", "y"),
        ("sses", "ss"),
        ("shes", "sh"),
        ("ches", "ch"),
        ("xes", "x"),
    ] {
        if let Some(base) = w.strip_suffix(suffix) {
            return format!("{base}{replacement}");
        }
    }
    if w.ends_with("ss") || w.ends_with("us") || w.ends_with("is") {
        return w.to_owned();
    }
    w.strip_suffix('s').unwrap_or(w).to_owned()
}

/// Words too common to say anything about a category.
pub fn is_stopword(w: &str) -> bool {
    matches!(
        w,
        "a" | "an"
            | "and"
            | "the"
            | "of"
            | "for"
            | "with"
            | "in"
            | "on"
            | "to"
            | "by"
            | "or"
            | "from"
            | "at"
            | "is"
            | "it"
            | "very"
            | "good"
            | "great"
            | "excellent"
            | "condition"
            | "new"
            | "used"
            | "size"
            | "worn"
            | "once"
            | "twice"
            | "never"
            | "vintage"
            | "original"
            | "box"
            | "tag"
            | "tags"
            | "other"
            | "de"
            | "la"
            | "le"
            | "les"
            | "du"
            | "des"
            | "et"
            | "en"
            | "un"
            | "une"
            | "der"
            | "die"
            | "das"
            | "und"
            | "mit"
            | "el"
            | "los"
            | "las"
            | "con"
            | "y"
            | "il"
            | "di"
            | "da"
            | "e"
            | "het"
            | "een"
            | "van"
            | "met"
            | "taille"
            | "grosse"
            | "talla"
            | "taglia"
            | "maat"
            | "neu"
            | "neuf"
            | "nuevo"
            | "nuovo"
            | "nieuw"
            | "novo"
            | "nowy"
            | "nowa"
            | "tamanho"
            | "rozmiar"
            | "para"
            | "pour"
            | "avec"
            | "au"
            | "aux"
            | "del"
            | "della"
            | "per"
            | "com"
            | "em"
            | "do"
            | "voor"
            | "dla"
    )
}

/// The stemmed content words of a text.
pub fn terms(text: &str) -> Vec<String> {
    words(&fold(text))
        .into_iter()
        .filter(|w| !is_stopword(w) && !w.chars().all(|c| c.is_ascii_digit()))
        .map(|w| stem(&w))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundaries_and_folds() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(fold("Größe Été Œuvre"), "grosse ete oeuvre");
        assert_eq!(
            terms("Levi's 501 jeans, DRESSES & Shoes"),
            ["levi", "jean", "dress", "shoe"]
        );
        assert_eq!(stem("glasses"), "glass");
        assert_eq!(stem("accessories"), "accessory");
    }
}
