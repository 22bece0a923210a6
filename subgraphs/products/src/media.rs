//! The demo catalog's images, drawn on request: `/media/products/<slug>/<name>.svg`
//! is a small SVG in colours taken from the path, with the product's name
//! on it, so every product looks different and no image is fetched from
//! anywhere. A shop points MEDIA_BASE_URL at its own image host instead.

use std::hash::{DefaultHasher, Hash, Hasher};

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The route the products subgraph serves the images on.
pub const ROUTE: &str = "/media/products/{slug}/{file}";

pub async fn image(Path((slug, file)): Path<(String, String)>) -> Response {
    let Some(name) = file.strip_suffix(".svg") else { return StatusCode::NOT_FOUND.into_response() };
    let plain = |text: &str| !text.is_empty() && text.len() <= 120 && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !plain(&slug) || !plain(name) {
        return StatusCode::NOT_FOUND.into_response();
    }
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")], svg(&slug, name)).into_response()
}

/// A 800×800 picture: a background and a disc in hues from `slug` and
/// `name`, the product's words across it. Only [a-z0-9-] reaches here.
fn svg(slug: &str, name: &str) -> String {
    let hue = |text: &str| {
        let mut hasher = DefaultHasher::new();
        text.hash(&mut hasher);
        hasher.finish() % 360
    };
    let (background, disc) = (hue(slug), hue(&format!("{slug}/{name}")));
    let words: Vec<&str> = slug.split('-').filter(|word| !word.is_empty()).collect();
    let lines: String = words
        .chunks(2)
        .enumerate()
        .map(|(row, pair)| format!(r##"<text x="400" y="{}" font-size="56" text-anchor="middle" fill="#fff" font-family="sans-serif">{}</text>"##, 330 + row * 70, pair.join(" ")))
        .collect();
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="800" height="800" viewBox="0 0 800 800"><rect width="800" height="800" fill="hsl({background},45%,35%)"/><circle cx="400" cy="400" r="300" fill="hsl({disc},60%,55%)" opacity="0.6"/>{lines}<text x="400" y="720" font-size="40" text-anchor="middle" fill="#fff" font-family="sans-serif">{name}</text></svg>"##
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_product_and_view_gets_its_own_picture() {
        let one = svg("classic-walnut-chef-s-knife", "1");
        assert!(one.starts_with("<svg") && one.contains("classic walnut"));
        assert_ne!(one, svg("classic-walnut-chef-s-knife", "2"));
        assert_ne!(one, svg("classic-walnut-skillet", "1"));
    }
}
