//! The example storefront (examples/storefront) built as a shop would build
//! it, served by `vite preview` in front of a router that serves only trusted
//! documents, and a purchase made through it in headless Chromium with no
//! route but loopback (examples/storefront/e2e/purchase.mjs).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::customer_token;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/storefront")
}

/// `vite preview` of the built example; stopped when dropped.
struct Preview {
    process: Child,
    url: String,
}

impl Preview {
    fn start(router_url: &str) -> Preview {
        let port = commerce_supergraph::supergraph::free_port().expect("a free port");
        let process = Command::new("node")
            .args(["node_modules/vite/bin/vite.js", "preview", "--host", "127.0.0.1", "--port", &port.to_string(), "--strictPort"])
            .current_dir(example())
            .env("GRAPHQL_URL", router_url)
            .stdout(Stdio::null())
            .spawn()
            .expect("vite starts");
        Preview { process, url: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Preview {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Runs `command` in the example's folder; its output when it succeeds.
fn run(command: &mut Command) -> String {
    let output = command.current_dir(example()).output().expect("the command runs");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{command:?}:\n{printed}");
    printed
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shopper_buys_through_the_example_storefront_sending_ids_only() {
    assert!(example().join("node_modules").exists(), "the example's packages are not installed: run `npm ci --prefix examples/storefront`");
    let app = common::spawn_app_trusted_documents_only().await;

    let schema = tempfile::Builder::new().suffix(".graphql").tempfile().unwrap();
    let printed = Command::new(env!("CARGO_BIN_EXE_supergraph")).arg("schema").output().unwrap();
    std::fs::write(schema.path(), printed.stdout).unwrap();
    tokio::task::spawn_blocking({
        let schema = schema.path().to_path_buf();
        move || run(Command::new("npm").args(["run", "build"]).env("SCHEMA", schema))
    })
    .await
    .unwrap();

    let preview = Preview::start(&app.supergraph.router_url);
    let http = reqwest::Client::new();
    let mut served = false;
    for _ in 0..100 {
        if http.get(&preview.url).send().await.is_ok_and(|r| r.status().is_success()) {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "vite preview did not serve {}", preview.url);

    let (url, token) = (preview.url.clone(), customer_token("storefront-shopper"));
    let printed = tokio::task::spawn_blocking(move || run(Command::new("node").args(["e2e/purchase.mjs", &url, &token]))).await.unwrap();
    assert!(printed.lines().any(|line| line == "OK: purchased and confirmed"), "{printed}");
}
