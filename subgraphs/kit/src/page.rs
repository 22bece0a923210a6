//! Relay-style cursor pagination shared by every connection in the graph.
//! Cursors are opaque to clients: base64 of a tagged sort key.

use async_graphql::SimpleObject;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ApiError;

/// The most items one page may hold; a larger `first` is an error, not a clamp.
pub const MAX_PAGE_SIZE: i32 = 100;

/// Where a page of a connection stands in the whole list, with the cursors to page on.
#[derive(SimpleObject, Clone, Debug, Default)]
#[graphql(shareable)]
pub struct PageInfo {
    /// True when more items follow this page.
    pub has_next_page: bool,
    /// The cursor of the page's last item, to pass as `after` for the next page; null when the page is empty.
    pub end_cursor: Option<String>,
    /// True when the page was asked for with an `after` cursor, so items come before it.
    pub has_previous_page: bool,
    /// The cursor of the page's first item; null when the page is empty.
    pub start_cursor: Option<String>,
}

/// A validated page request: how many rows to return and where to start.
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub first: i64,
    pub after: Option<String>,
}

impl PageRequest {
    /// `kind` tags the cursor so one connection's cursor is refused by another.
    pub fn parse(kind: &str, first: i32, after: Option<&str>) -> Result<Self, ApiError> {
        let first = page_size("first", first)?;
        let after = after.map(|cursor| decode_cursor(kind, "after", cursor)).transpose()?;
        Ok(PageRequest { first, after })
    }

    /// Rows to fetch: one more than the page, to learn whether a next page exists.
    pub fn fetch_limit(&self) -> i64 {
        self.first + 1
    }

    /// Trims the extra row and builds the page info; `key` gives a row's sort key.
    pub fn finish<T>(&self, kind: &str, rows: Vec<T>, key: impl Fn(&T) -> &str) -> (Vec<(String, T)>, PageInfo) {
        let window = PageWindow { size: self.first, cursor: self.after.clone(), backward: false };
        window.finish(kind, rows, |row| key(row).to_string())
    }
}

/// A page asked for from either end of a list: `first` items after a
/// cursor, or `last` items before one.
#[derive(Clone, Debug)]
pub struct PageWindow {
    pub size: i64,
    /// The cursor's key: the page starts after it, or ends before it when `backward`.
    pub cursor: Option<String>,
    pub backward: bool,
}

impl PageWindow {
    /// Exactly one of `first` (with `after`) and `last` (with `before`).
    pub fn parse(kind: &str, first: Option<i32>, after: Option<&str>, last: Option<i32>, before: Option<&str>) -> Result<Self, ApiError> {
        match (first, after, last, before) {
            (Some(first), after, None, None) => Ok(PageWindow {
                size: page_size("first", first)?,
                cursor: after.map(|cursor| decode_cursor(kind, "after", cursor)).transpose()?,
                backward: false,
            }),
            (None, None, Some(last), before) => Ok(PageWindow {
                size: page_size("last", last)?,
                cursor: before.map(|cursor| decode_cursor(kind, "before", cursor)).transpose()?,
                backward: true,
            }),
            _ => Err(ApiError::BadUserInput("give `first` (with `after`) or `last` (with `before`), not both".into())),
        }
    }

    /// Rows to fetch: one more than the page, to learn whether more lie beyond it.
    pub fn fetch_limit(&self) -> i64 {
        self.size + 1
    }

    /// `rows` as fetched, walking away from the cursor (so in reverse list
    /// order when `backward`): trims the extra row, puts them in list order
    /// and builds the page info; `key` gives a row's cursor key.
    pub fn finish<T>(&self, kind: &str, mut rows: Vec<T>, key: impl Fn(&T) -> String) -> (Vec<(String, T)>, PageInfo) {
        let more = rows.len() as i64 > self.size;
        rows.truncate(self.size as usize);
        if self.backward {
            rows.reverse();
        }
        let edges: Vec<(String, T)> = rows.into_iter().map(|row| (encode_cursor(kind, &key(&row)), row)).collect();
        let info = PageInfo {
            has_next_page: if self.backward { self.cursor.is_some() } else { more },
            end_cursor: edges.last().map(|(cursor, _)| cursor.clone()),
            has_previous_page: if self.backward { more } else { self.cursor.is_some() },
            start_cursor: edges.first().map(|(cursor, _)| cursor.clone()),
        };
        (edges, info)
    }
}

fn page_size(argument: &str, size: i32) -> Result<i64, ApiError> {
    if !(0..=MAX_PAGE_SIZE).contains(&size) {
        return Err(ApiError::BadUserInput(format!("`{argument}` must be between 0 and {MAX_PAGE_SIZE}, got {size}")));
    }
    Ok(i64::from(size))
}

pub fn encode_cursor(kind: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{key}"))
}

fn decode_cursor(kind: &str, argument: &str, cursor: &str) -> Result<String, ApiError> {
    let malformed = || ApiError::BadUserInput(format!("`{argument}` is not a valid {kind} cursor"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    match text.split_once(':') {
        Some((tag, key)) if tag == kind && !key.is_empty() => Ok(key.to_string()),
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_refuses_other_kinds() {
        let cursor = encode_cursor("product", "red-shoe");
        let page = PageRequest::parse("product", 10, Some(&cursor)).unwrap();
        assert_eq!(page.after.as_deref(), Some("red-shoe"));
        assert!(PageRequest::parse("review", 10, Some(&cursor)).is_err());
        assert!(PageRequest::parse("product", 10, Some("%%%")).is_err());
    }

    #[test]
    fn first_is_bounded() {
        assert!(PageRequest::parse("product", 101, None).is_err());
        assert!(PageRequest::parse("product", -1, None).is_err());
        assert!(PageRequest::parse("product", 100, None).is_ok());
    }

    #[test]
    fn a_window_pages_backward_in_list_order() {
        let before = encode_cursor("n", "e");
        let window = PageWindow::parse("n", None, None, Some(2), Some(&before)).unwrap();
        // Fetched walking back from the cursor: d, c, then the extra b.
        let (edges, info) = window.finish("n", vec!["d".to_string(), "c".into(), "b".into()], |s| s.clone());
        assert_eq!(edges.iter().map(|(_, row)| row.as_str()).collect::<Vec<_>>(), ["c", "d"]);
        assert!(info.has_previous_page && info.has_next_page);
        assert_eq!(info.start_cursor, Some(encode_cursor("n", "c")));
        assert!(PageWindow::parse("n", Some(2), None, Some(2), None).is_err());
        assert!(PageWindow::parse("n", None, None, Some(101), None).is_err());
        assert!(PageWindow::parse("m", None, None, Some(2), Some(&before)).is_err());
    }

    #[test]
    fn finish_reports_next_page_from_the_extra_row() {
        let page = PageRequest::parse("n", 2, None).unwrap();
        let (edges, info) = page.finish("n", vec!["a".to_string(), "b".into(), "c".into()], |s| s);
        assert_eq!(edges.len(), 2);
        assert!(info.has_next_page);
        assert_eq!(info.end_cursor, Some(encode_cursor("n", "b")));
    }
}
