//! Attribute suggestions from the text: colour, size, material, brand,
//! gender and age group, in English whatever the listing's language.

use super::{
    suggestion::{Attributes, ListingText},
    text,
};

/// `(word, English colour)`.
const COLORS: &[(&str, &str)] = &[
    ("black", "black"),
    ("white", "white"),
    ("red", "red"),
    ("blue", "blue"),
    ("navy", "navy"),
    ("green", "green"),
    ("yellow", "yellow"),
    ("orange", "orange"),
    ("pink", "pink"),
    ("purple", "purple"),
    ("brown", "brown"),
    ("beige", "beige"),
    ("grey", "gray"),
    ("gray", "gray"),
    ("gold", "gold"),
    ("silver", "silver"),
    ("cream", "cream"),
    ("khaki", "khaki"),
    ("burgundy", "burgundy"),
    ("multicolor", "multicolor"),
    ("noir", "black"),
    ("noire", "black"),
    ("blanc", "white"),
    ("blanche", "white"),
    ("rouge", "red"),
    ("bleu", "blue"),
    ("bleue", "blue"),
    ("vert", "green"),
    ("verte", "green"),
    ("jaune", "yellow"),
    ("rose", "pink"),
    ("violet", "purple"),
    ("marron", "brown"),
    ("gris", "gray"),
    ("grise", "gray"),
    ("dore", "gold"),
    ("argent", "silver"),
    ("schwarz", "black"),
    ("weiss", "white"),
    ("rot", "red"),
    ("blau", "blue"),
    ("grun", "green"),
    ("gelb", "yellow"),
    ("rosa", "pink"),
    ("lila", "purple"),
    ("braun", "brown"),
    ("grau", "gray"),
    ("negro", "black"),
    ("negra", "black"),
    ("blanco", "white"),
    ("blanca", "white"),
    ("rojo", "red"),
    ("roja", "red"),
    ("azul", "blue"),
    ("verde", "green"),
    ("amarillo", "yellow"),
    ("marrone", "brown"),
    ("marron", "brown"),
    ("nero", "black"),
    ("nera", "black"),
    ("bianco", "white"),
    ("bianca", "white"),
    ("rosso", "red"),
    ("rossa", "red"),
    ("giallo", "yellow"),
    ("grigio", "gray"),
    ("zwart", "black"),
    ("wit", "white"),
    ("rood", "red"),
    ("blauw", "blue"),
    ("groen", "green"),
    ("geel", "yellow"),
    ("bruin", "brown"),
];

/// `(word, English material)`.
const MATERIALS: &[(&str, &str)] = &[
    ("cotton", "cotton"),
    ("wool", "wool"),
    ("leather", "leather"),
    ("silk", "silk"),
    ("linen", "linen"),
    ("denim", "denim"),
    ("cashmere", "cashmere"),
    ("polyester", "polyester"),
    ("suede", "suede"),
    ("velvet", "velvet"),
    ("nylon", "nylon"),
    ("wood", "wood"),
    ("wooden", "wood"),
    ("glass", "glass"),
    ("ceramic", "ceramic"),
    ("steel", "steel"),
    ("gold", "gold"),
    ("silver", "silver"),
    ("plastic", "plastic"),
    ("merino", "wool"),
    ("coton", "cotton"),
    ("laine", "wool"),
    ("cuir", "leather"),
    ("soie", "silk"),
    ("lin", "linen"),
    ("baumwolle", "cotton"),
    ("wolle", "wool"),
    ("leder", "leather"),
    ("seide", "silk"),
    ("leinen", "linen"),
    ("holz", "wood"),
    ("algodon", "cotton"),
    ("lana", "wool"),
    ("cuero", "leather"),
    ("piel", "leather"),
    ("seda", "silk"),
    ("lino", "linen"),
    ("madera", "wood"),
    ("cotone", "cotton"),
    ("pelle", "leather"),
    ("seta", "silk"),
    ("legno", "wood"),
    ("katoen", "cotton"),
    ("wol", "wool"),
    ("leer", "leather"),
    ("zijde", "silk"),
    ("hout", "wood"),
];

/// Brands often sold second-hand, written as they are spelled.
const BRANDS: &[&str] = &[
    "Nike",
    "Adidas",
    "Puma",
    "Reebok",
    "New Balance",
    "Asics",
    "Converse",
    "Vans",
    "Levi's",
    "Zara",
    "H&M",
    "Uniqlo",
    "Mango",
    "Gucci",
    "Prada",
    "Louis Vuitton",
    "Chanel",
    "Hermès",
    "Dior",
    "Burberry",
    "Ralph Lauren",
    "Tommy Hilfiger",
    "Lacoste",
    "The North Face",
    "Patagonia",
    "Carhartt",
    "Dr. Martens",
    "Birkenstock",
    "Ugg",
    "Apple",
    "Samsung",
    "Sony",
    "Nintendo",
    "Microsoft",
    "Canon",
    "Nikon",
    "Fujifilm",
    "Dyson",
    "Lego",
    "Ikea",
    "Bose",
    "Ray-Ban",
    "Rolex",
    "Casio",
    "Seiko",
    "Michael Kors",
    "Longchamp",
    "Stone Island",
    "Barbour",
    "Timberland",
    "Hollister",
    "Abercrombie",
    "Superdry",
    "Jordan",
    "Playmobil",
];

fn lookup(words: &[String], table: &[(&str, &'static str)]) -> Option<String> {
    words.iter().find_map(|w| {
        table
            .iter()
            .find(|(k, _)| *k == w.as_str())
            .map(|(_, v)| (*v).to_owned())
    })
}

fn size_in(title: &str) -> Option<String> {
    let tokens: Vec<&str> = title
        .split(|c: char| c.is_whitespace() || c == ',' || c == '/' || c == '(' || c == ')')
        .filter(|t| !t.is_empty())
        .collect();
    // "W32 L30"
    if let Some(w) = tokens.iter().position(|t| is_waist(t)) {
        let mut size = tokens[w].to_uppercase();
        if let Some(l) = tokens.get(w + 1).filter(|t| is_leg(t)) {
            size.push(' ');
            size.push_str(&l.to_uppercase());
        }
        return Some(size);
    }
    for (i, t) in tokens.iter().enumerate() {
        let lower = text::fold(t);
        let next = tokens.get(i + 1).copied();
        // "size M", "taille 38", "Gr. 40", "EU 42", "UK 8"
        if matches!(
            lower.trim_end_matches([':', '.']),
            "size"
                | "taille"
                | "talla"
                | "taglia"
                | "maat"
                | "gr"
                | "grosse"
                | "eu"
                | "uk"
                | "us"
                | "fr"
                | "it"
        ) && let Some(v) = next
            && is_size_value(v)
        {
            let unit = lower.trim_end_matches([':', '.']);
            return Some(match unit {
                "eu" | "uk" | "us" | "fr" | "it" => {
                    format!("{} {}", unit.to_uppercase(), v.to_uppercase())
                }
                _ => v.to_uppercase(),
            });
        }
    }
    tokens
        .iter()
        .find(|t| {
            matches!(
                t.to_uppercase().as_str(),
                "XXS" | "XS" | "S" | "M" | "L" | "XL" | "XXL" | "XXXL" | "2XL" | "3XL"
            ) && t
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        .map(|t| t.to_uppercase())
}

fn is_waist(t: &str) -> bool {
    t.len() <= 4
        && (t.starts_with('W') || t.starts_with('w'))
        && t[1..].parse::<u8>().is_ok_and(|n| (20..=50).contains(&n))
}

fn is_leg(t: &str) -> bool {
    t.len() <= 4
        && (t.starts_with('L') || t.starts_with('l'))
        && t[1..].parse::<u8>().is_ok_and(|n| (20..=40).contains(&n))
}

fn is_size_value(v: &str) -> bool {
    let v = v.trim_end_matches([',', '.']);
    !v.is_empty()
        && v.len() <= 5
        && (v
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
            || matches!(
                v.to_uppercase().as_str(),
                "XXS" | "XS" | "S" | "M" | "L" | "XL" | "XXL" | "XXXL" | "2XL" | "3XL"
            ))
}

/// Attributes the listing's text states.
pub fn extract(item: &ListingText) -> Attributes {
    let all = format!("{} {}", item.title, item.description);
    let folded = text::fold(&all);
    let words = text::words(&folded);
    let title_words = text::words(&text::fold(&item.title));
    let brand = item
        .brand
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            BRANDS
                .iter()
                .find(|b| {
                    let bw = text::words(&text::fold(b));
                    !bw.is_empty() && words.windows(bw.len()).any(|w| w == bw.as_slice())
                })
                .map(|b| (*b).to_owned())
        });
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    let gender = if has(&[
        "women", "womens", "woman", "ladies", "lady", "femme", "damen", "mujer", "donna", "dames",
    ]) {
        Some("women")
    } else if has(&[
        "men", "mens", "man", "homme", "herren", "hombre", "uomo", "heren",
    ]) {
        Some("men")
    } else if has(&["unisex"]) {
        Some("unisex")
    } else {
        None
    };
    let age_group = if has(&["baby", "bebe", "newborn", "infant", "neonato", "months"]) {
        Some("baby")
    } else if has(&[
        "kids", "kid", "child", "children", "girls", "boys", "enfant", "enfants", "kinder", "nino",
        "nina", "bambino", "bambina", "kinderen",
    ]) {
        Some("kids")
    } else if gender.is_some() {
        Some("adult")
    } else {
        None
    };
    Attributes {
        color: lookup(&title_words, COLORS).or_else(|| lookup(&words, COLORS)),
        size: size_in(&item.title),
        material: lookup(&words, MATERIALS),
        brand,
        gender: gender.map(str::to_owned),
        age_group: age_group.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(title: &str, description: &str) -> ListingText {
        ListingText {
            title: title.to_owned(),
            description: description.to_owned(),
            ..ListingText::default()
        }
    }

    #[test]
    fn finds_attributes_in_several_languages() {
        let a = extract(&item(
            "Levi's 501 W32 L30 jeans",
            "Mid blue denim, men's cut",
        ));
        assert_eq!(a.size.as_deref(), Some("W32 L30"));
        assert_eq!(a.brand.as_deref(), Some("Levi's"));
        assert_eq!(a.material.as_deref(), Some("denim"));
        assert_eq!(a.color.as_deref(), Some("blue"));
        assert_eq!(a.gender.as_deref(), Some("men"));
        let a = extract(&item("Robe noire en soie taille 38", "Pour femme"));
        assert_eq!(a.color.as_deref(), Some("black"));
        assert_eq!(a.material.as_deref(), Some("silk"));
        assert_eq!(a.size.as_deref(), Some("38"));
        assert_eq!(a.gender.as_deref(), Some("women"));
        assert_eq!(a.age_group.as_deref(), Some("adult"));
        let a = extract(&item("Nike Air Force 1 white EU 42", ""));
        assert_eq!(a.size.as_deref(), Some("EU 42"));
        assert_eq!(a.brand.as_deref(), Some("Nike"));
        let a = extract(&item("", ""));
        assert_eq!(a, Attributes::default());
    }
}
