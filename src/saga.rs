//! `supergraph events`: the operator's view of the saga. Each subgraph's
//! database is read by that subgraph's own crate (`<NAME>_DATABASE_URL`, or
//! the dev SQLite files); listings go to stdout, as text or JSON, and logs to
//! stderr.

use std::path::Path;

use anyhow::Context as _;
use events::{Bus, BusConfig, DeadLetter, SentEvent};
use kit::config::Settings;
use kit::db::Db;
use serde::Serialize;

use crate::subgraphs::{Serving, Shared, Subgraph};

/// The subgraphs that consume events (and so may hold dead letters).
const CONSUMERS: [Subgraph; 4] = [Subgraph::Inventory, Subgraph::Orders, Subgraph::Cart, Subgraph::Reviews];

/// A subgraph's database: `<NAME>_DATABASE_URL`, or its dev SQLite file.
fn database_url(subgraph: Subgraph) -> String {
    std::env::var(format!("{}_DATABASE_URL", subgraph.name().to_uppercase())).unwrap_or_else(|_| format!("sqlite://data/{}.db?mode=rwc", subgraph.name()))
}

async fn open(subgraph: Subgraph) -> anyhow::Result<Db> {
    subgraph.connect(&database_url(subgraph)).await.with_context(|| format!("opening the {} database", subgraph.name()))
}

/// Lists every consumer's dead letters, with their error.
pub async fn dead_letters(json: bool) -> anyhow::Result<()> {
    let mut letters: Vec<DeadLetter> = Vec::new();
    for subgraph in CONSUMERS {
        letters.extend(events::dead_letters(&open(subgraph).await?).await?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&letters)?);
        return Ok(());
    }
    if letters.is_empty() {
        println!("no dead letters");
    }
    for letter in letters {
        let state = letter.replayed_at.map_or("dead".to_string(), |at| format!("replayed {at}"));
        println!(
            "{}  {:<9} {} {} ({} attempts, {state}, since {})\n    {}",
            letter.id, letter.consumer, letter.event_type, letter.event_id, letter.attempts, letter.created_at, letter.error
        );
    }
    Ok(())
}

/// Delivers dead letter `id` once more, through the consumer a running subgraph has.
pub async fn replay(config_dir: &Path, id: &str) -> anyhow::Result<()> {
    let router_url = std::env::var("ROUTER_URL").unwrap_or_else(|_| "http://127.0.0.1:4000/graphql".into());
    // Events the handler emits land in the outbox; the running subgraph's relay publishes them.
    let shared = Shared::new(config_dir, &router_url, &Subgraph::urls_from_env(), Bus::connect(&BusConfig::InProcess).await?, Settings::from_env()?)?;
    for subgraph in CONSUMERS {
        let db = open(subgraph).await?;
        if !events::dead_letters(&db).await?.iter().any(|letter| letter.id == id) {
            continue;
        }
        let consumer = Serving::new(subgraph, database_url(subgraph), &shared).consumer(db)?;
        events::replay(&consumer, id).await?;
        println!("replayed {id} to {}", subgraph.name());
        return Ok(());
    }
    anyhow::bail!("no consumer has a dead letter {id}")
}

/// One event of an order's saga: who sent it, who has applied it, who gave up on it.
#[derive(Serialize)]
struct SagaEvent {
    #[serde(flatten)]
    sent: SentEvent,
    received_by: Vec<&'static str>,
    dead_letter_at: Vec<&'static str>,
}

#[derive(Serialize)]
struct Saga {
    order: orders::OrderSaga,
    reservation: Option<inventory::ReservationView>,
    events: Vec<SagaEvent>,
}

/// Everything about one order's saga: its status and timeline, its
/// reservation, its payment, and every event sent and received about it.
pub async fn order(id: &str, json: bool) -> anyhow::Result<()> {
    let order = orders::order_saga(&open(Subgraph::Orders).await?, id).await?.with_context(|| format!("no order {id}"))?;
    let reservation = inventory::reservation_of(&open(Subgraph::Inventory).await?, id).await?;
    let mut sent = Vec::new();
    for subgraph in Subgraph::ALL {
        sent.extend(events::sent_about(&open(subgraph).await?, id).await?);
    }
    sent.sort_by(|a, b| a.id.cmp(&b.id));
    let ids: Vec<String> = sent.iter().map(|event| event.id.clone()).collect();
    let mut events: Vec<SagaEvent> = sent.into_iter().map(|sent| SagaEvent { sent, received_by: Vec::new(), dead_letter_at: Vec::new() }).collect();
    for subgraph in CONSUMERS {
        let db = open(subgraph).await?;
        let received = events::received(&db, &ids).await?;
        let dead: Vec<String> = events::dead_letters(&db).await?.into_iter().filter(|l| l.replayed_at.is_none()).map(|l| l.event_id).collect();
        for event in &mut events {
            if received.contains(&event.sent.id) {
                event.received_by.push(subgraph.name());
            }
            if dead.contains(&event.sent.id) {
                event.dead_letter_at.push(subgraph.name());
            }
        }
    }
    let saga = Saga { order, reservation, events };
    if json {
        println!("{}", serde_json::to_string_pretty(&saga)?);
        return Ok(());
    }
    let Saga { order, reservation, events } = saga;
    println!("order {} ({}): {}, {}", order.number, order.id, order.status, order.total);
    for (status, at, reason) in &order.timeline {
        println!("  {at}  {status}{}", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default());
    }
    match reservation {
        Some(reservation) => {
            let lines: Vec<String> = reservation.lines.iter().map(|(sku, quantity)| format!("{quantity} × {sku}")).collect();
            println!("reservation: {} (expires {}) {}", reservation.status, reservation.expires_at, lines.join(", "));
        }
        None => println!("reservation: none yet"),
    }
    for (operation, outcome, at) in &order.payment {
        println!("payment: {at}  {operation} {outcome}");
    }
    for event in events {
        let published = event.sent.published_at.as_deref().map_or("not published yet".to_string(), |at| format!("published {at}"));
        println!("event {} {} from {} ({published})", event.sent.event_type, event.sent.id, event.sent.producer);
        println!("    received by: {}", if event.received_by.is_empty() { "nobody yet".into() } else { event.received_by.join(", ") });
        if !event.dead_letter_at.is_empty() {
            println!("    dead letter at: {}", event.dead_letter_at.join(", "));
        }
    }
    Ok(())
}
