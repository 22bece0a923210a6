//! The sandbox payment provider (no real one is reachable here). Test tokens,
//! as providers' sandboxes have them:
//! - `tok_visa` authorizes;
//! - `tok_declined` (and any token it does not know) declines;
//! - `tok_slow` authorizes after `slow_delay` (default 3 s), for timeouts and TTLs.
//!
//! The order id is the idempotency key: the first call for an order decides
//! its outcome. It keeps its ledger in the orders database (`sandbox_payments`,
//! one row per order, and `sandbox_payment_calls`, one row per call) so tests
//! can count authorizations and voids.

use std::time::Duration;

use async_trait::async_trait;
use kit::db::{Db, new_id, now};
use kit::money::Money;

use crate::payment::{Authorization, PaymentGateway};

pub struct SandboxGateway {
    db: Db,
    slow_delay: Duration,
}

impl SandboxGateway {
    pub fn new(db: Db, slow_delay: Duration) -> Self {
        SandboxGateway { db, slow_delay }
    }

    async fn record_call(&self, order_id: &str, operation: &str, outcome: &str) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO sandbox_payment_calls (id, order_id, operation, outcome, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(new_id())
            .bind(order_id)
            .bind(operation)
            .bind(outcome)
            .bind(now())
            .execute(&self.db)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl PaymentGateway for SandboxGateway {
    async fn authorize(&self, order_id: &str, amount: Money, token: &str) -> anyhow::Result<Authorization> {
        if token == "tok_slow" {
            tokio::time::sleep(self.slow_delay).await;
        }
        let (status, authorization_id) = match token {
            "tok_visa" | "tok_slow" => ("AUTHORIZED", Some(format!("auth_{}", new_id()))),
            _ => ("DECLINED", None),
        };
        // The order id is the idempotency key: the first call decides.
        sqlx::query(
            "INSERT INTO sandbox_payments (order_id, amount_minor, currency, status, authorization_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(order_id)
        .bind(amount.minor_units)
        .bind(amount.currency.as_str())
        .bind(status)
        .bind(&authorization_id)
        .bind(now())
        .execute(&self.db)
        .await?;
        let (status, authorization_id): (String, Option<String>) =
            sqlx::query_as("SELECT status, authorization_id FROM sandbox_payments WHERE order_id = $1")
                .bind(order_id)
                .fetch_one(&self.db)
                .await?;
        self.record_call(order_id, "AUTHORIZE", &status).await?;
        Ok(match authorization_id {
            Some(authorization_id) if status != "DECLINED" => Authorization::Authorized { authorization_id },
            _ => Authorization::Declined { reason: "the card was declined".into() },
        })
    }

    async fn void(&self, order_id: &str) -> anyhow::Result<()> {
        let voided = sqlx::query("UPDATE sandbox_payments SET status = 'VOIDED', updated_at = $1 WHERE order_id = $2 AND status = 'AUTHORIZED'")
            .bind(now())
            .bind(order_id)
            .execute(&self.db)
            .await?;
        let outcome = if voided.rows_affected() == 1 { "VOIDED" } else { "NOTHING_TO_VOID" };
        self.record_call(order_id, "VOID", outcome).await
    }
}
