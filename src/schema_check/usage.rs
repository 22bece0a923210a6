//! What operations use, as schema coordinates: from the documents a check
//! reads, and from real traffic, which the router's `usage` plugin records
//! into a usage database (SQLite or PostgreSQL) that `check --usage` reads.
//!
//! A coordinate is `Type.field` for every field selected, `Type.field.argument`
//! for every argument passed, and the bare name of every type an operation
//! reaches (the output type of each field, and each input object and enum it
//! sends, with the input types they contain).

use std::collections::{BTreeSet, HashMap, HashSet};

use apollo_compiler::executable::{ExecutableDocument, Selection, SelectionSet};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Schema};
use chrono::{Duration, Utc};
use kit::db::Db;

/// The coordinates the operation `name` (the only one when None) of `document` uses.
pub fn coordinates_used(schema: &Valid<Schema>, document: &Valid<ExecutableDocument>, name: Option<&str>) -> BTreeSet<String> {
    let mut walk = Walk { schema, document, used: BTreeSet::new(), fragments_seen: HashSet::new() };
    if let Ok(operation) = document.operations.get(name) {
        for variable in &operation.variables {
            walk.input_type(variable.ty.inner_named_type());
        }
        walk.selections(&operation.selection_set);
    }
    walk.used
}

struct Walk<'a> {
    schema: &'a Valid<Schema>,
    document: &'a Valid<ExecutableDocument>,
    used: BTreeSet<String>,
    fragments_seen: HashSet<&'a Name>,
}

impl<'a> Walk<'a> {
    fn selections(&mut self, set: &'a SelectionSet) {
        for selection in &set.selections {
            match selection {
                Selection::Field(field) => {
                    let coordinate = format!("{}.{}", set.ty, field.name);
                    for argument in &field.arguments {
                        self.used.insert(format!("{coordinate}.{}", argument.name));
                        if let Some(definition) = field.definition.argument_by_name(&argument.name) {
                            self.input_type(definition.ty.inner_named_type());
                        }
                    }
                    if !field.name.starts_with("__") {
                        self.used.insert(coordinate);
                    }
                    self.used.insert(field.definition.ty.inner_named_type().to_string());
                    self.selections(&field.selection_set);
                }
                Selection::InlineFragment(inline) => self.selections(&inline.selection_set),
                Selection::FragmentSpread(spread) => {
                    if self.fragments_seen.insert(&spread.fragment_name)
                        && let Some(fragment) = self.document.fragments.get(&spread.fragment_name)
                    {
                        self.selections(&fragment.selection_set);
                    }
                }
            }
        }
    }

    /// An input type sent, with the input types its fields hold.
    fn input_type(&mut self, name: &Name) {
        if !self.used.insert(name.to_string()) {
            return;
        }
        if let Some(ExtendedType::InputObject(input)) = self.schema.types.get(name) {
            for field in input.fields.values() {
                self.input_type(field.ty.inner_named_type());
            }
        }
    }
}

/// The usage database's migrations.
pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("migrations/usage")
}

/// Adds `requests` to each coordinate's count for today.
pub async fn record(db: &Db, counts: &HashMap<String, u64>) -> anyhow::Result<()> {
    let day = Utc::now().format("%Y-%m-%d").to_string();
    let mut transaction = db.begin().await?;
    for (coordinate, requests) in counts {
        sqlx::query(
            "INSERT INTO field_usage (day, coordinate, requests) VALUES ($1, $2, $3)
             ON CONFLICT (day, coordinate) DO UPDATE SET requests = field_usage.requests + excluded.requests",
        )
        .bind(&day)
        .bind(coordinate)
        .bind(i64::try_from(*requests).unwrap_or(i64::MAX))
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// Requests per coordinate over the last `days` days, today included.
pub async fn read(db: &Db, days: u32) -> anyhow::Result<HashMap<String, u64>> {
    let since = (Utc::now() - Duration::days(i64::from(days.max(1)) - 1)).format("%Y-%m-%d").to_string();
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT coordinate, CAST(SUM(requests) AS BIGINT) FROM field_usage WHERE day >= $1 GROUP BY coordinate")
            .bind(since)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|(coordinate, requests)| (coordinate, u64::try_from(requests).unwrap_or(0))).collect())
}
