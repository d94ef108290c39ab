//! Specialised branches of the taxonomy (maternity, children's, wedding, pet,
//! horse, medical, a given sport…) that a listing belongs to only when its text
//! says so: "Jeans" is not "Maternity Jeans" unless the seller writes it.

/// `(word in a category name, words in the listing that justify it)`; all folded and stemmed.
const QUALIFIERS: &[(&str, &[&str])] = &[
    (
        "maternity",
        &[
            "maternity",
            "pregnancy",
            "pregnant",
            "grossesse",
            "umstand",
            "premaman",
            "zwangerschap",
            "nursing",
        ],
    ),
    (
        "nursing",
        &["nursing", "breastfeeding", "allaitement", "stillen"],
    ),
    (
        "baby",
        // The taxonomy's "Baby & Children's …" branches are for any child.
        &[
            "baby", "bebe", "infant", "newborn", "toddler", "month", "neonato", "kid", "child",
            "children", "girl", "boy", "enfant", "kinder", "nino", "nina", "bambino", "bambina",
            "junior",
        ],
    ),
    (
        "children",
        &[
            "kid", "child", "children", "girl", "boy", "enfant", "kinder", "nino", "nina",
            "bambino", "bambina", "junior", "toddler", "baby",
        ],
    ),
    ("toddler", &["toddler", "baby", "kid", "child"]),
    (
        "wedding",
        &[
            "wedding", "bridal", "bride", "mariage", "hochzeit", "boda", "sposa", "bruiloft",
        ],
    ),
    (
        "bridal",
        &[
            "wedding",
            "bridal",
            "bride",
            "bridesmaid",
            "mariage",
            "hochzeit",
            "boda",
            "sposa",
        ],
    ),
    (
        "pet",
        &[
            "pet", "dog", "cat", "puppy", "kitten", "chien", "chat", "hund", "katze", "perro",
            "gato", "cane", "gatto", "hond", "kat",
        ],
    ),
    (
        "dog",
        &["dog", "puppy", "chien", "hund", "perro", "cane", "hond"],
    ),
    (
        "cat",
        &["cat", "kitten", "chat", "katze", "gato", "gatto", "kat"],
    ),
    (
        "horse",
        &[
            "horse",
            "equestrian",
            "cheval",
            "pferd",
            "caballo",
            "cavallo",
            "paard",
            "riding",
        ],
    ),
    (
        "equestrian",
        &["horse", "equestrian", "riding", "cheval", "pferd"],
    ),
    (
        "medical",
        &["medical", "medicine", "hospital", "orthopedic", "injury"],
    ),
    ("marine", &["marine", "boat", "boating", "sailing", "yacht"]),
    ("military", &["military", "army", "tactical"]),
    (
        "school",
        &[
            "school", "ecole", "schule", "escuela", "scuola", "school", "student",
        ],
    ),
    ("golf", &["golf"]),
    ("rugby", &["rugby"]),
    (
        "soccer",
        &[
            "soccer", "football", "foot", "fussball", "futbol", "calcio", "voetbal",
        ],
    ),
    ("basketball", &["basketball", "basket"]),
    (
        "dance",
        &["dance", "dancing", "ballet", "danse", "tanz", "baile"],
    ),
    (
        "dancing",
        &["dance", "dancing", "ballet", "danse", "tanz", "baile"],
    ),
    (
        "activewear",
        &[
            "sport",
            "gym",
            "running",
            "run",
            "training",
            "fitness",
            "workout",
            "yoga",
            "athletic",
            "activewear",
        ],
    ),
    ("uniform", &["uniform", "workwear", "scrub"]),
    (
        "costume",
        &[
            "costume",
            "cosplay",
            "halloween",
            "fancy",
            "deguisement",
            "kostum",
            "disfraz",
        ],
    ),
    (
        "doll",
        &[
            "doll", "barbie", "poupee", "puppe", "muneca", "bambola", "pop",
        ],
    ),
];

/// For each category name, the qualifiers it carries (by index into the table).
pub fn qualifiers_of(full_path: &str) -> Vec<u8> {
    let words = super::text::terms(full_path);
    QUALIFIERS
        .iter()
        .enumerate()
        .filter(|(_, (q, _))| words.iter().any(|w| w == q))
        .filter_map(|(i, _)| u8::try_from(i).ok())
        .collect()
}

/// Whether `term` (stemmed) names a specialised branch.
pub fn is_qualifier(term: &str) -> bool {
    QUALIFIERS.iter().any(|(q, _)| *q == term)
}

/// Which qualifiers (by index) a listing's translated, stemmed terms justify.
pub fn justified_by(terms: &[String]) -> Vec<bool> {
    QUALIFIERS
        .iter()
        .map(|(_, triggers)| terms.iter().any(|t| triggers.contains(&t.as_str())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maternity_needs_to_be_said() {
        let q = qualifiers_of(
            "Apparel & Accessories > Clothing > Maternity Clothing > Maternity Pants > Jeans",
        );
        assert_eq!(q.len(), 1);
        let plain = super::super::text::terms("dark jeans size 38");
        assert!(!justified_by(&plain)[usize::from(q[0])]);
        let said = super::super::text::terms("maternity jeans");
        assert!(justified_by(&said)[usize::from(q[0])]);
        assert!(qualifiers_of("Apparel & Accessories > Clothing > Pants > Jeans").is_empty());
    }
}
