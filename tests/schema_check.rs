//! `supergraph check` run as a CI job runs it: the binary, its exit code
//! and its report. The fixtures (tests/fixtures/schema-check) are a small
//! client-facing schema, one edited copy of it per kind of change, a
//! storefront folder whose product page spreads a fragment kept in another
//! file, and a partner's folder passed with `--operations`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use commerce_supergraph::compose::compose_sdl;
use commerce_supergraph::subgraphs::Subgraph;
use serde_json::Value;

const FIXTURES: &str = "tests/fixtures/schema-check";

fn supergraph_command(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_supergraph"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_BACKTRACE", "0")
        .args(args)
        .output()
        .expect("the supergraph binary runs")
}

/// `check` of fixture `case` against the fixture base, with the fixture
/// storefront: its exit code and its JSON report.
fn check_case(case: &str, extra: &[&str]) -> (i32, Value) {
    let new = format!("{FIXTURES}/cases/{case}.graphql");
    let base = format!("{FIXTURES}/base.graphql");
    let mut args = vec!["--config-dir", FIXTURES, "check", "--supergraph", &new, "--against", &base, "--format", "json"];
    args.extend(extra);
    let output = supergraph_command(&args);
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("a JSON report, got {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)));
    (output.status.code().expect("an exit code"), report)
}

/// The report's one change.
fn only_change(report: &Value) -> &Value {
    let changes = report["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{changes:#?}");
    &changes[0]
}

fn operation_names(change: &Value) -> Vec<&str> {
    change["operations"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect()
}

#[test]
fn a_removed_field_that_an_operation_uses_fails_naming_the_operation() {
    let (code, report) = check_case("removed-used-field", &[]);
    assert_eq!(code, 1);
    let change = only_change(&report);
    assert_eq!(change["severity"], "breaking");
    assert_eq!(change["kind"], "FieldRemoved");
    assert_eq!(change["coordinate"], "Product.price");
    assert_eq!(change["message"], "Field `price` was removed from object type `Product`");
    assert_eq!(change["blocking"], true);
    assert_eq!(operation_names(change), ["ProductPage"]);
    // The operation no longer validates: named with the file and line of the field.
    let errors = report["operation_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0]["operation"], "ProductPage");
    assert_eq!(errors[0]["location"]["file"], format!("{FIXTURES}/storefront/fragments.graphql"));
    assert_eq!(errors[0]["location"]["line"], 4);
    assert!(errors[0]["message"].as_str().unwrap().contains("price"), "{}", errors[0]);
}

#[test]
fn a_removed_field_no_operation_uses_passes_unless_strict_or_a_partner_reads_it() {
    let (code, report) = check_case("removed-unused-field", &[]);
    assert_eq!(code, 0);
    let change = only_change(&report);
    assert_eq!((change["severity"].as_str(), change["kind"].as_str()), (Some("breaking"), Some("FieldRemoved")));
    assert_eq!(change["coordinate"], "Product.legacyCode");
    assert_eq!(change["blocking"], false);

    let (code, report) = check_case("removed-unused-field", &["--strict"]);
    assert_eq!(code, 1);
    assert_eq!(only_change(&report)["blocking"], true);

    let partner = format!("{FIXTURES}/partner");
    let (code, report) = check_case("removed-unused-field", &["--operations", &partner]);
    assert_eq!(code, 1);
    assert_eq!(operation_names(only_change(&report)), ["PartnerFeed"]);
    assert_eq!(report["operation_errors"][0]["location"]["file"], format!("{FIXTURES}/partner/feed.graphql"));
}

#[test]
fn a_new_required_argument_breaks_every_operation_that_asks_for_the_field() {
    let (code, report) = check_case("new-required-argument", &[]);
    assert_eq!(code, 1);
    let change = only_change(&report);
    assert_eq!(change["severity"], "breaking");
    assert_eq!(change["kind"], "FieldArgumentAdded");
    assert_eq!(change["coordinate"], "Query.product.market");
    assert_eq!(change["message"], "Argument `market` was added to field `Query.product`");
    assert_eq!(operation_names(change), ["ProductPage"]);
    assert!(report["operation_errors"][0]["message"].as_str().unwrap().contains("market"), "{report:#}");
}

#[test]
fn a_removed_enum_value_breaks_operations_that_read_the_enum() {
    let (code, report) = check_case("enum-value-removed", &[]);
    assert_eq!(code, 1);
    let change = only_change(&report);
    assert_eq!(change["severity"], "breaking");
    assert_eq!(change["kind"], "EnumValueRemoved");
    assert_eq!(change["coordinate"], "Availability.PREORDER");
    assert_eq!(change["message"], "Enum value `PREORDER` was removed from enum `Availability`");
    assert_eq!(operation_names(change), ["ProductPage"]);
    assert_eq!(report["operation_errors"], serde_json::json!([]), "the document itself still validates");
}

#[test]
fn a_changed_type_breaks_and_a_nullable_output_made_non_null_is_safe() {
    let (code, report) = check_case("type-change", &[]);
    assert_eq!(code, 1);
    let change = only_change(&report);
    assert_eq!((change["severity"].as_str(), change["kind"].as_str()), (Some("breaking"), Some("FieldTypeChanged")));
    assert_eq!(change["message"], "Field `Product.price` changed type from `Int` to `String`.");
    assert_eq!(operation_names(change), ["ProductPage"]);

    let (code, report) = check_case("nullable-made-non-null", &[]);
    assert_eq!(code, 0);
    let change = only_change(&report);
    assert_eq!((change["severity"].as_str(), change["kind"].as_str()), (Some("safe"), Some("FieldTypeChanged")));
}

#[test]
fn a_safe_addition_passes() {
    let (code, report) = check_case("safe-addition", &[]);
    assert_eq!(code, 0);
    let change = only_change(&report);
    assert_eq!(change["severity"], "safe");
    assert_eq!(change["kind"], "FieldAdded");
    assert_eq!(change["coordinate"], "Product.reviewCount");
    assert_eq!(report["passed"], true);
}

#[test]
fn github_annotations_point_at_the_lines_concerned() {
    let new = format!("{FIXTURES}/cases/removed-used-field.graphql");
    let base = format!("{FIXTURES}/base.graphql");
    let output = supergraph_command(&["--config-dir", FIXTURES, "check", "--supergraph", &new, "--against", &base, "--format", "github"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    // The removal is shown on the type that held the field (its definition
    // starts with its description), in the new file.
    assert!(
        lines.contains(&format!("::error file={new},line=9,title=Breaking change (FieldRemoved)::Product.price: Field `price` was removed from object type `Product`. used by ProductPage ({FIXTURES}/storefront/product.graphql:2)").as_str()),
        "{stdout}"
    );
    assert!(lines.iter().any(|l| l.starts_with(&format!("::error file={FIXTURES}/storefront/fragments.graphql,line=4,title=Operation ProductPage no longer valid::"))), "{stdout}");
    assert_eq!(lines.last(), Some(&"Schema check: FAIL: 1 breaking change(s) that clients use, 1 operation(s) no longer valid"));
}

#[test]
fn a_lint_warning_is_reported_and_can_be_silenced_with_a_reason() {
    let (code, report) = check_case("missing-description", &[]);
    assert_eq!(code, 0, "warnings do not fail the check");
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0]["rule"], "description");
    assert_eq!(warnings[0]["coordinate"], "Product.weight");

    let config = tempfile::tempdir().unwrap();
    common::copy_folder(&Path::new(FIXTURES).join("storefront"), &config.path().join("storefront"));
    let allowance = "allow:\n  - rule: description\n    coordinate: Product.weight\n    reason: the weight's unit is being decided\n";
    std::fs::write(config.path().join("schema-lint.yaml"), allowance).unwrap();
    let new = format!("{FIXTURES}/cases/missing-description.graphql");
    let base = format!("{FIXTURES}/base.graphql");
    let config_dir = config.path().to_str().unwrap();
    let output = supergraph_command(&["--config-dir", config_dir, "check", "--supergraph", &new, "--against", &base, "--format", "json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["warnings"], serde_json::json!([]));

    std::fs::write(config.path().join("schema-lint.yaml"), allowance.replace("the weight's unit is being decided", "")).unwrap();
    let output = supergraph_command(&["--config-dir", config_dir, "check", "--supergraph", &new, "--against", &base]);
    assert_eq!(output.status.code(), Some(2), "an allowance without a reason is refused");
    assert!(String::from_utf8_lossy(&output.stderr).contains("needs a reason"));
}

#[test]
fn what_the_check_cannot_read_is_a_usage_error() {
    let output = supergraph_command(&["check", "--against", "no-such-revision-or-file"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is neither a file nor a git revision"), "{output:?}");
    let output = supergraph_command(&["check", "--operations", "no/such/folder"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no/such/folder is not a folder"), "{output:?}");
}

#[test]
fn the_schema_command_prints_the_client_facing_schema() {
    let output = supergraph_command(&["schema"]);
    assert!(output.status.success());
    let sdl = String::from_utf8(output.stdout).unwrap();
    assert!(sdl.contains("type Product {"), "{sdl}");
    assert!(!sdl.contains("join__") && !sdl.contains("link__") && !sdl.contains("_entities"), "{sdl}");
}

/// `sdl` without the field `name` (and its description) wherever it is defined.
fn without_field(sdl: &str, name: &str) -> String {
    let lines: Vec<&str> = sdl.lines().collect();
    let mut kept = vec![true; lines.len()];
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if !(trimmed.starts_with(&format!("{name}:")) || trimmed.starts_with(&format!("{name}("))) {
            continue;
        }
        kept[index] = false;
        // Its description: one line `"""text"""`, or a block from `"""` to `"""`.
        let Some(above) = index.checked_sub(1).filter(|&i| lines[i].trim().ends_with("\"\"\"")) else { continue };
        kept[above] = false;
        if lines[above].trim() == "\"\"\"" {
            let mut start = above;
            while start > 0 {
                start -= 1;
                kept[start] = false;
                if lines[start].trim().starts_with("\"\"\"") {
                    break;
                }
            }
        }
    }
    lines.iter().zip(kept).filter(|(_, kept)| *kept).map(|(line, _)| *line).collect::<Vec<_>>().join("\n") + "\n"
}

/// The project's supergraph, composed from each subgraph's SDL as `edit` changes it, in a file.
fn supergraph_with(edit: impl Fn(Subgraph, String) -> String) -> tempfile::NamedTempFile {
    let sdl = Subgraph::ALL.iter().map(|s| (*s, edit(*s, (s.definition().sdl)()))).collect();
    let composed = compose_sdl(sdl).unwrap_or_else(|errors| panic!("{errors:#?}"));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), composed.supergraph).unwrap();
    file
}

/// The project's supergraph, composed with `field` removed from `subgraphs`' SDL, in a file.
fn supergraph_without(field: &str, subgraphs: &[Subgraph]) -> tempfile::NamedTempFile {
    supergraph_with(|s, own| if subgraphs.contains(&s) { without_field(&own, field) } else { own })
}

#[test]
fn breaking_a_real_subgraph_names_its_storefront_operations_and_the_subgraph() {
    let edited = supergraph_without("rating", &[Subgraph::Reviews]);
    let path = edited.path().to_str().unwrap();
    let output = supergraph_command(&["check", "--supergraph", path, "--against", "supergraph.graphql", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let removed = report["changes"].as_array().unwrap().iter().find(|c| c["coordinate"] == "Product.rating").expect("Product.rating is reported");
    assert_eq!(removed["kind"], "FieldRemoved");
    assert_eq!(removed["subgraphs"], serde_json::json!(["reviews"]));
    let mut names = operation_names(removed);
    names.sort();
    assert_eq!(names, ["ProductListing", "ProductPage"]);
    assert!(removed["operations"].as_array().unwrap().iter().all(|o| o["location"]["file"] == "router-config/storefront/catalog.graphql"));
}

#[test]
fn a_field_a_subgraph_reads_through_the_graph_is_in_use() {
    // Query.variants renamed: Product.variants, which others extend, stays.
    let edited = supergraph_with(|s, own| if s == Subgraph::Products { own.replace("\tvariants(skus:", "\tvariantsBySku(skus:") } else { own });
    let path = edited.path().to_str().unwrap();
    let output = supergraph_command(&["check", "--supergraph", path, "--against", "supergraph.graphql", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let removed = report["changes"].as_array().unwrap().iter().find(|c| c["coordinate"] == "Query.variants").expect("Query.variants is reported");
    assert_eq!(removed["blocking"], true);
    let read = removed["operations"].as_array().unwrap().iter().find(|o| o["name"] == "the cart subgraph's read through the graph").expect("cart's price read is named");
    let file = read["location"]["file"].as_str().unwrap();
    let line = read["location"]["line"].as_u64().unwrap() as usize;
    let source = std::fs::read_to_string(file).unwrap();
    assert!(source.lines().nth(line - 1).unwrap().contains("variants(skus: $skus)"), "{file}:{line} holds the document");
    let errors = report["operation_errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e["operation"] == read["name"] && e["location"]["line"] == read["location"]["line"]), "{errors:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_only_recorded_traffic_uses_fails_the_check_with_usage() {
    let usage_dir = tempfile::tempdir().unwrap();
    let usage_url = format!("sqlite://{}?mode=rwc", usage_dir.path().join("usage.db").display());
    let app = common::spawn_app_recording_usage(&usage_url).await;
    // A partner's query that the storefront below does not make.
    let (status, answer) = app.post(&app.supergraph.graphql_url(), serde_json::json!({ "query": "{ categories { children { slug } } }" }), None).await;
    assert_eq!(status, 200, "{answer}");

    let edited = supergraph_without("children", &Subgraph::ALL);
    let path = edited.path().to_str().unwrap().to_string();
    // A storefront that does not ask for Category.children (ours does).
    let config = tempfile::tempdir().unwrap();
    let source = commerce_supergraph::supergraph::config_dir();
    common::copy_folder(&source.join("storefront"), &config.path().join("storefront"));
    let catalog = config.path().join("storefront/catalog.graphql");
    std::fs::write(&catalog, std::fs::read_to_string(&catalog).unwrap().replace(" children { slug }", "")).unwrap();
    let config_dir = config.path().to_str().unwrap().to_string();
    let check = |usage: Option<String>| {
        let (path, config_dir) = (path.clone(), config_dir.clone());
        async move {
            let mut args = vec!["--config-dir".to_string(), config_dir, "check".into(), "--supergraph".into(), path, "--against".into(), "supergraph.graphql".into(), "--format".into(), "json".into()];
            args.extend(usage.into_iter().flat_map(|url| ["--usage".to_string(), url]));
            let output = tokio::task::spawn_blocking(move || supergraph_command(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap();
            let report: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
            (output.status.code(), report)
        }
    };
    let (code, _) = check(None).await;
    assert_eq!(code, Some(0), "no document of that storefront uses Category.children");

    // The router writes its counts every 10 s.
    let mut seen = (None, Value::Null);
    for _ in 0..40 {
        seen = check(Some(usage_url.clone())).await;
        if seen.0 == Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (code, report) = seen;
    assert_eq!(code, Some(1), "{report:#}");
    let removed = report["changes"].as_array().unwrap().iter().find(|c| c["coordinate"] == "Category.children").expect("reported");
    assert_eq!(removed["requests"], 1);
    assert_eq!(removed["blocking"], true);
}

#[test]
fn lists_that_grow_and_mutations_without_user_errors_are_warned_about() {
    let (code, report) = check_case("lint-conventions", &[]);
    assert_eq!(code, 0);
    let warnings: Vec<(&str, &str)> =
        report["warnings"].as_array().unwrap().iter().map(|w| (w["rule"].as_str().unwrap(), w["coordinate"].as_str().unwrap())).collect();
    assert_eq!(warnings, [("connection", "Product.boughtWith"), ("user-errors", "Mutation.renameProduct")]);
}

#[test]
fn a_non_null_field_from_another_subgraph_is_warned_about() {
    let file = supergraph_with(|s, own| if s == Subgraph::Reviews { own.replace("\trating: RatingSummary\n", "\trating: RatingSummary!\n") } else { own });
    let output = supergraph_command(&["check", "--supergraph", file.path().to_str().unwrap(), "--against", "supergraph.graphql", "--format", "json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0]["rule"], "nullable-foreign");
    assert_eq!(warnings[0]["coordinate"], "Product.rating");
    assert!(warnings[0]["message"].as_str().unwrap().starts_with("Product.rating comes from reviews but is non-null"), "{}", warnings[0]);
}

#[test]
fn a_committed_supergraph_the_code_no_longer_composes_is_stale() {
    let committed = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("supergraph.graphql")).unwrap();
    let mut lines: Vec<&str> = committed.lines().collect();
    lines[41] = "# edited by hand";
    let edited = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(edited.path(), lines.join("\n") + "\n").unwrap();
    let output = supergraph_command(&["check", "--path", edited.path().to_str().unwrap(), "--against", "supergraph.graphql", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let stale = report["stale_files"].as_array().unwrap();
    assert_eq!(stale.len(), 1, "{stale:#?}");
    assert!(stale[0].as_str().unwrap().contains("first differs from what the code composes at line 42"), "{}", stale[0]);
}

#[test]
fn graphql_code_generator_types_the_storefront_operations_from_the_printed_schema() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/storefront");
    assert!(example.join("node_modules").exists(), "the example's packages are not installed: run `npm ci --prefix examples/storefront`");
    let out = tempfile::Builder::new().prefix(".codegen-").tempdir_in(&example).unwrap();
    let schema = out.path().join("schema.graphql");
    std::fs::write(&schema, supergraph_command(&["schema"]).stdout).unwrap();
    let generated = out.path().join("gql");
    let codegen = Command::new("npx")
        .args(["graphql-codegen", "--config", "codegen.ts"])
        .current_dir(&example)
        .env("SCHEMA", &schema)
        .env("CODEGEN_OUT", format!("{}/", generated.display()))
        .output()
        .unwrap();
    assert!(codegen.status.success(), "{}{}", String::from_utf8_lossy(&codegen.stdout), String::from_utf8_lossy(&codegen.stderr));
    let types = std::fs::read_to_string(generated.join("graphql.ts")).unwrap();
    assert!(types.contains("export type ProductPageQuery = { product: {"), "typed results");
    assert!(types.contains("as unknown as DocumentNode<PlaceOrderMutation, PlaceOrderMutationVariables>"), "typed documents");
    // What it generated type-checks, as a bundler (Vite) would read it.
    let files: Vec<PathBuf> = std::fs::read_dir(&generated).unwrap().map(|entry| entry.unwrap().path()).collect();
    let tsc = Command::new("npx")
        .args(["tsc", "--noEmit", "--strict", "--module", "esnext", "--moduleResolution", "bundler", "--skipLibCheck"])
        .args(&files)
        .current_dir(&example)
        .output()
        .unwrap();
    assert!(tsc.status.success(), "{}", String::from_utf8_lossy(&tsc.stdout));
}
