//! Words sellers use that the taxonomy does not: French, German, Spanish,
//! Italian, Dutch, Portuguese and Polish product words, and English
//! marketplace slang and brand names, each mapped to the taxonomy's English
//! words. The lists are `workers/data/synonyms/*.txt`; matching is on folded
//! words (lower case, no accents), before stemming.

use std::{collections::HashMap, sync::OnceLock};

/// The word lists, one per language: `word = english words` lines.
const LISTS: &[&str] = &[
    include_str!("../../data/synonyms/en.txt"),
    include_str!("../../data/synonyms/fr.txt"),
    include_str!("../../data/synonyms/de.txt"),
    include_str!("../../data/synonyms/es.txt"),
    include_str!("../../data/synonyms/it.txt"),
    include_str!("../../data/synonyms/nl.txt"),
    include_str!("../../data/synonyms/pt.txt"),
    include_str!("../../data/synonyms/pl.txt"),
];

/// `(word, English taxonomy words)` of a list; comments and blank lines skipped.
fn entries(list: &str) -> impl Iterator<Item = (&str, &str)> {
    list.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(word, english)| (word.trim(), english.trim()))
        .filter(|(word, _)| !word.is_empty())
}

/// Every list merged: a word in several languages gets the English words of each.
fn map() -> &'static HashMap<&'static str, String> {
    static MAP: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut map: HashMap<&'static str, String> = HashMap::new();
        for (word, english) in LISTS.iter().flat_map(|list| entries(list)) {
            let entry = map.entry(word).or_default();
            for w in english.split_whitespace() {
                if !entry.split_whitespace().any(|e| e == w) {
                    if !entry.is_empty() {
                        entry.push(' ');
                    }
                    entry.push_str(w);
                }
            }
        }
        map
    })
}

/// English words for `folded_word` (already lower-cased and accent-folded), if known.
pub fn english(folded_word: &str) -> Option<&'static str> {
    let map = map();
    if let Some(found) = map.get(folded_word) {
        return Some(found.as_str()).filter(|s| !s.is_empty());
    }
    // German and Dutch compounds end with the product word: "Winterstiefel" is boots,
    // "Lederjacke" a jacket. The longest known ending of 4+ letters, after 3+ letters, wins.
    if folded_word.len() < 7 || !folded_word.is_ascii() {
        return None;
    }
    (3..=folded_word.len() - 4).find_map(|start| {
        map.get(&folded_word[start..])
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    })
}

/// Longest phrase key of the lists, in words ("chest of drawers").
const MAX_PHRASE: usize = 4;

/// The known words and phrases of `words` (folded), each with its English
/// words if known: a phrase ("new balance") is read before its words.
fn spans(words: &[String]) -> Vec<(String, Option<&'static str>)> {
    let map = map();
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let phrase = (2..=MAX_PHRASE.min(words.len() - i)).rev().find_map(|n| {
            let key = words[i..i + n].join(" ");
            map.get(key.as_str())
                .filter(|e| !e.is_empty())
                .map(|e| (key, n, e.as_str()))
        });
        if let Some((key, n, english)) = phrase {
            out.push((key, Some(english)));
            i += n;
        } else {
            out.push((words[i].clone(), english(&words[i])));
            i += 1;
        }
    }
    out
}

/// `text` with every known word or phrase replaced by its English taxonomy
/// words (others kept), lower-cased and accent-folded.
pub fn translate(text: &str) -> String {
    let words = super::text::words(&super::text::fold(text));
    let mut out = String::with_capacity(text.len() + 16);
    for (word, english) in spans(&words) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(english.unwrap_or(&word));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_words_of_each_language() {
        assert_eq!(english("chaussures"), Some("shoes"));
        assert_eq!(english("kleid"), Some("dress"));
        assert_eq!(english("zapatillas"), Some("sneakers athletic shoes"));
        assert_eq!(english("borsa"), Some("handbags bag"));
        assert_eq!(english("jurk"), Some("dress"));
        assert_eq!(english("dr"), None);
        assert_eq!(translate("Robe d'été en coton"), "dress d ete en cotton");
        assert_eq!(english("samtstiefel"), Some("boots"));
        assert_eq!(english("wolljacke"), Some("jacket"));
        assert_eq!(english("spring"), None);
        assert_eq!(english("sukienka"), Some("dress"));
    }

    #[test]
    fn phrases_are_read_before_their_words() {
        assert_eq!(translate("Table basse en chêne"), "coffee tables en chene");
        assert_eq!(translate("Magic the Gathering bulk"), "gaming cards bulk");
        assert_eq!(translate("magic"), "magic");
        assert_eq!(translate("Reloj de pared"), "wall clocks");
        assert_eq!(
            translate("Nintendo Switch Lite"),
            "handheld game consoles lite"
        );
    }

    #[test]
    fn colours_of_every_language_read_as_english_colours() {
        for (word, colour) in [
            ("noir", "black"),
            ("schwarz", "black"),
            ("negra", "black"),
            ("nero", "black"),
            ("zwart", "black"),
            ("preto", "black"),
            ("czarna", "black"),
            ("bleue", "blue"),
        ] {
            assert_eq!(english(word), Some(colour), "{word}");
            assert!(super::super::lexical::is_modifier(colour));
        }
    }

    #[test]
    fn every_list_line_is_a_folded_word_and_english_words() {
        for list in LISTS {
            for line in list.lines() {
                if line.trim().is_empty() || line.starts_with('#') {
                    continue;
                }
                let (word, english) = line.split_once(" = ").unwrap_or_else(|| panic!("{line}"));
                assert_eq!(super::super::text::fold(word), word, "{line}");
                assert!(
                    word.split(' ').count() <= MAX_PHRASE
                        && word.split(' ').all(|w| !w.is_empty()
                            && w.bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
                    "{line}"
                );
                assert!(!english.trim().is_empty(), "{line}");
            }
        }
    }
}
