//! The Shopify Standard Product Taxonomy (categories, MIT licence), shipped
//! inside the binary from `shared/data/shopify-taxonomy/categories.txt` and
//! parsed once.

use std::{collections::HashMap, sync::OnceLock};

/// The categories file as published by Shopify (see `data/shopify-taxonomy/LICENSE`).
pub const CATEGORIES_TXT: &str = include_str!("../data/shopify-taxonomy/categories.txt");

/// Prefix of every category gid.
pub const GID_PREFIX: &str = "gid://shopify/TaxonomyCategory/";

/// One category of the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Short id (`aa-1-13-8`); encodes the tree.
    pub id: String,
    /// Full gid (`gid://shopify/TaxonomyCategory/aa-1-13-8`).
    pub gid: String,
    /// The parent's short id; `None` for a top-level area.
    pub parent_id: Option<String>,
    /// Own name (`T-Shirts`).
    pub name: String,
    /// Names from the top down, joined by ` > `.
    pub full_path: String,
    /// 1 for a top-level area.
    pub depth: u32,
    /// Number of direct children.
    pub child_count: u32,
}

impl Category {
    /// The short id of the top-level area (`aa` for `aa-1-13-8`).
    pub fn area(&self) -> &str {
        area_of(&self.id)
    }
}

/// The short id of the top-level area of a short id or gid.
pub fn area_of(id: &str) -> &str {
    let id = id.strip_prefix(GID_PREFIX).unwrap_or(id);
    id.split('-').next().unwrap_or(id)
}

/// The short id of a gid (or the input when it is already short).
pub fn short_id(gid: &str) -> &str {
    gid.strip_prefix(GID_PREFIX).unwrap_or(gid).trim()
}

/// The parsed taxonomy: categories in file order plus an index by short id.
#[derive(Debug)]
pub struct Taxonomy {
    /// Version named in the file header (`2026-08-unstable`).
    pub version: String,
    /// Every category, parents before children.
    pub categories: Vec<Category>,
    index: HashMap<String, usize>,
}

impl Taxonomy {
    /// The taxonomy shipped with this build, parsed on first use.
    pub fn shipped() -> &'static Taxonomy {
        static SHIPPED: OnceLock<Taxonomy> = OnceLock::new();
        SHIPPED.get_or_init(|| Taxonomy::parse(CATEGORIES_TXT))
    }

    /// Parses the `gid : A > B > C` format; lines that do not match are skipped.
    pub fn parse(text: &str) -> Taxonomy {
        let mut version = String::from("unknown");
        let mut categories = Vec::new();
        for line in text.lines() {
            if let Some(header) = line.strip_prefix('#') {
                if let Some((_, v)) = header.split_once("Categories:") {
                    version = v.trim().to_owned();
                }
                continue;
            }
            let Some((gid, path)) = line.split_once(" : ") else {
                continue;
            };
            let gid = gid.trim();
            let Some(id) = gid.strip_prefix(GID_PREFIX) else {
                continue;
            };
            let full_path = path.trim().to_owned();
            let name = full_path
                .rsplit(" > ")
                .next()
                .unwrap_or(&full_path)
                .to_owned();
            let parent_id = id.rsplit_once('-').map(|(parent, _)| parent.to_owned());
            categories.push(Category {
                id: id.to_owned(),
                gid: gid.to_owned(),
                parent_id,
                name,
                depth: u32::try_from(full_path.matches(" > ").count() + 1).unwrap_or(u32::MAX),
                full_path,
                child_count: 0,
            });
        }
        let index: HashMap<String, usize> = categories
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let mut counts = vec![0u32; categories.len()];
        for c in &categories {
            if let Some(p) = c.parent_id.as_ref().and_then(|p| index.get(p)) {
                counts[*p] += 1;
            }
        }
        for (c, n) in categories.iter_mut().zip(counts) {
            c.child_count = n;
        }
        Taxonomy {
            version,
            categories,
            index,
        }
    }

    /// The category with this short id or gid.
    pub fn get(&self, id_or_gid: &str) -> Option<&Category> {
        self.index
            .get(short_id(id_or_gid))
            .map(|&i| &self.categories[i])
    }

    /// Position of a category in [`Taxonomy::categories`].
    pub fn position(&self, id_or_gid: &str) -> Option<usize> {
        self.index.get(short_id(id_or_gid)).copied()
    }

    /// Whether `ancestor` is `id` or one of its ancestors (both short ids or gids).
    pub fn is_within(id: &str, ancestor: &str) -> bool {
        let (id, ancestor) = (short_id(id), short_id(ancestor));
        id == ancestor
            || (id.starts_with(ancestor) && id.as_bytes().get(ancestor.len()) == Some(&b'-'))
    }

    /// Top-level area names by short id (`aa` → `Apparel & Accessories`).
    pub fn area_name<'a>(&'a self, area: &'a str) -> &'a str {
        self.get(area).map_or(area, |c| c.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_taxonomy_parses_with_tree() {
        let t = Taxonomy::shipped();
        assert_eq!(t.version, "2026-08-unstable");
        assert_eq!(t.categories.len(), 14_606);
        let tee = t.get("gid://shopify/TaxonomyCategory/aa-1-13-8").unwrap();
        assert_eq!(tee.parent_id.as_deref(), Some("aa-1-13"));
        assert!(
            tee.full_path
                .starts_with("Apparel & Accessories > Clothing")
        );
        assert_eq!(tee.area(), "aa");
        assert_eq!(tee.depth, 4);
        assert!(t.get("aa").unwrap().child_count > 5);
        assert!(Taxonomy::is_within("aa-1-13-8", "aa-1"));
        assert!(!Taxonomy::is_within("aa-1-13-8", "aa-1-1"));
        // Every parent exists.
        for c in &t.categories {
            if let Some(p) = &c.parent_id {
                assert!(t.get(p).is_some(), "{} has no parent {p}", c.id);
            }
        }
    }
}
