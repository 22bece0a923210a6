//! The playground: GraphiQL, built from its npm package in playground/ into
//! router-config/playground/ and served from there, so that no request
//! leaves the machine. Its page is the built index.html with our
//! configuration put in: the endpoint, a tab per storefront operation with
//! the example variables of router-config/playground.yaml, and (in dev) the
//! customer token in the headers editor.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::json;

use crate::schema_check::operations::{self, Operation};
use crate::trusted_documents::normalized;

/// Where the page puts its configuration.
const PLACEHOLDER: &str = "<!--playground-config-->";
/// Where its assets are served, as the bundle was built to expect.
pub const PREFIX: &str = "/playground/";

pub struct Playground {
    pub page: String,
    assets: HashMap<String, (&'static str, Vec<u8>)>,
}

#[derive(Deserialize)]
struct Examples {
    variables: HashMap<String, Option<serde_json::Value>>,
}

impl Playground {
    /// Reads the bundle and builds the page: `config_dir` holds playground/,
    /// storefront/ and playground.yaml; `headers`, when given, prefill the
    /// headers editor.
    pub fn load(config_dir: &Path, endpoint: &str, headers: Option<&str>) -> anyhow::Result<Playground> {
        let bundle = config_dir.join("playground");
        let mut assets = HashMap::new();
        read_assets(&bundle, &bundle, &mut assets).with_context(|| format!("reading the playground in {}", bundle.display()))?;
        let (_, index) = assets.remove("index.html").context("the playground bundle has no index.html: run `npm ci --prefix playground && npm run --prefix playground build`")?;
        let index = String::from_utf8(index).context("the playground's index.html is not UTF-8")?;
        anyhow::ensure!(index.contains(PLACEHOLDER), "the playground's index.html has no {PLACEHOLDER}");
        let operations = operations::load(&[config_dir.join("storefront")])?;
        let examples_path = config_dir.join("playground.yaml");
        let examples: Examples = serde_yaml::from_str(&std::fs::read_to_string(&examples_path).with_context(|| format!("reading {}", examples_path.display()))?)
            .with_context(|| format!("parsing {}", examples_path.display()))?;
        let tabs: Vec<serde_json::Value> = operations.iter().map(|operation| tab(operation, &examples)).collect();
        let config = json!({ "endpoint": endpoint, "headers": headers, "tabs": tabs });
        // Safe inside <script>: nothing in it can close the element.
        let script = format!(r#"<script id="playground-config" type="application/json">{}</script>"#, config.to_string().replace('<', "\\u003c"));
        Ok(Playground { page: index.replace(PLACEHOLDER, &script), assets })
    }

    /// The asset at `path` (below the prefix): its content type and bytes.
    pub fn asset(&self, path: &str) -> Option<(&'static str, &[u8])> {
        self.assets.get(path).map(|(content_type, bytes)| (*content_type, bytes.as_slice()))
    }
}

/// A tab: the operation's comment, the operation with its fragments, and its example variables.
fn tab(operation: &Operation, examples: &Examples) -> serde_json::Value {
    let text: String = operation.sources().iter().map(|(_, text)| text.as_str()).collect::<Vec<_>>().join("\n");
    let document = normalized(&text).unwrap_or(text);
    let variables = examples.variables.get(&operation.name).cloned().flatten().map(|v| serde_json::to_string_pretty(&v).expect("JSON prints"));
    json!({ "query": format!("{}{}", operation.comment, document), "variables": variables })
}

fn read_assets(root: &Path, folder: &Path, assets: &mut HashMap<String, (&'static str, Vec<u8>)>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(folder)? {
        let path = entry?.path();
        if path.is_dir() {
            read_assets(root, &path, assets)?;
            continue;
        }
        let relative = path.strip_prefix(root)?.to_string_lossy().replace('\\', "/");
        assets.insert(relative, (content_type(&path), std::fs::read(&path)?));
    }
    Ok(())
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{DEMO_PRODUCTS, demo_catalog};

    /// Every storefront operation has its example variables, naming only the
    /// operation's own variables and only what the demo catalog holds.
    #[test]
    fn the_example_variables_fit_the_operations_and_the_demo_catalog() {
        let config_dir = crate::supergraph::config_dir();
        let examples: Examples = serde_yaml::from_str(&std::fs::read_to_string(config_dir.join("playground.yaml")).unwrap()).unwrap();
        let operations = operations::load(&[config_dir.join("storefront")]).unwrap();
        let catalog = demo_catalog(DEMO_PRODUCTS);
        for operation in &operations {
            let variables = examples.variables.get(&operation.name).unwrap_or_else(|| panic!("{} has no example", operation.name));
            let text: String = operation.sources().iter().map(|(_, t)| t.as_str()).collect();
            for (name, value) in variables.iter().flat_map(|v| v.as_object().unwrap()) {
                assert!(text.contains(&format!("${name}:")), "{} has no variable ${name}", operation.name);
                match name.as_str() {
                    "slug" => assert!(catalog.products.iter().any(|p| Some(p.slug.as_str()) == value.as_str()), "{value}"),
                    "sku" => assert!(catalog.products.iter().flat_map(|p| &p.variants).any(|v| Some(v.sku.as_str()) == value.as_str()), "{value}"),
                    "category" => assert!(catalog.products.iter().any(|p| Some(p.category_slug.as_str()) == value.as_str()), "{value}"),
                    _ => {}
                }
            }
        }
        assert_eq!(examples.variables.len(), operations.len(), "an example for each operation, and none for another");
    }
}
