//! The catalog's text analyzer: what a product is indexed under and what a
//! search asks for, the same on PostgreSQL and SQLite. Both engines index
//! the terms written here (PostgreSQL a tsvector with the `simple`
//! configuration, SQLite an FTS5 table with `unicode61`), so "knives",
//! "Knife" and "Chef's Knife" meet on the same stems whatever the backend.
//!
//! Snowball's English stemmer (rust-stemmers) does the stemming; it keeps
//! "knives" apart from "knife", so irregular `-ves` plurals are folded to
//! their singular first.

use rust_stemmers::{Algorithm, Stemmer};

/// Words too common to narrow a search; dropped from the index and from queries.
const STOP_WORDS: &[&str] = &["a", "an", "and", "at", "by", "for", "in", "is", "it", "of", "on", "or", "the", "to", "with"];

/// The longest search, in terms: enough for any real query, bounded so a
/// query stays cheap.
pub const MAX_TERMS: usize = 8;

/// The stems of `text`, in order, each once per occurrence.
pub fn terms(text: &str) -> Vec<String> {
    let stemmer = Stemmer::create(Algorithm::English);
    words(text)
        .into_iter()
        .filter(|word| !STOP_WORDS.contains(&word.as_str()))
        .map(|word| stemmer.stem(&singular(&word)).into_owned())
        .collect()
}

/// The stems of `text` as one space-separated string, as the index stores them.
pub fn indexed(text: &str) -> String {
    terms(text).join(" ")
}

/// What a shopper typed, as distinct stems to match all of; None when
/// nothing in it can be searched for (only punctuation or stop words).
pub fn query(text: &str) -> Option<Vec<String>> {
    let mut stems = Vec::new();
    for term in terms(text) {
        if !stems.contains(&term) {
            stems.push(term);
        }
    }
    stems.truncate(MAX_TERMS);
    (!stems.is_empty()).then_some(stems)
}

/// Lower-case runs of letters and digits; a possessive `'s` goes with its word.
fn words(text: &str) -> Vec<String> {
    let lower = text.to_lowercase().replace(['\u{2019}', '\u{2018}'], "'").replace("'s", "");
    lower.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()).map(str::to_string).collect()
}

/// Irregular `-ves` plurals the stemmer does not fold: knives → knife,
/// shelves → shelf.
fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ives").filter(|stem| stem.len() >= 2) {
        return format!("{stem}ife");
    }
    if let Some(stem) = word.strip_suffix("lves").filter(|stem| stem.len() >= 2) {
        return format!("{stem}lf");
    }
    word.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_possessives_and_case_meet_on_one_stem() {
        assert_eq!(query("knives"), query("Knife"));
        assert_eq!(query("chef knife"), Some(vec!["chef".to_string(), "knife".to_string()]));
        assert_eq!(query("Chef's Knife"), query("chef knife"));
        assert_eq!(query("Chef\u{2019}s knives"), query("chef knife"));
        assert_eq!(query("shelves"), query("shelf"));
        assert_eq!(query("running shoes"), query("run shoe"));
    }

    #[test]
    fn stop_words_and_punctuation_search_for_nothing() {
        assert_eq!(query("the of and"), None);
        assert_eq!(query("  %%% '' "), None);
        assert_eq!(indexed("The Classic Chef's Knife, in carbon steel."), "classic chef knife carbon steel");
    }

    #[test]
    fn a_query_is_bounded() {
        let long = (0..50).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
        assert_eq!(query(&long).unwrap().len(), MAX_TERMS);
    }
}
