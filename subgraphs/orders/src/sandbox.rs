//! The sandbox payment provider (no real one is reachable here). Test tokens,
//! as providers' sandboxes have them:
//! - `tok_visa` authorizes;
//! - `tok_declined` (and any token it does not know) declines;
//! - `tok_slow` authorizes after `slow_delay` (default 3 s), for timeouts and TTLs.
//!
//! An authorization is then captured (AUTHORIZED → CAPTURED) or voided
//! (AUTHORIZED → VOIDED), never both; refunds are paid from a capture, never
//! more than it.
//!
//! The order id is the idempotency key: the first call for an order decides
//! its outcome. It keeps its ledger in the orders database (`sandbox_payments`,
//! one row per order, and `sandbox_payment_calls`, one row per call) so tests
//! can count authorizations and voids.

use std::time::Duration;

use async_trait::async_trait;
use kit::db::{Arg, Db, new_id, now, query_as_with};
use kit::money::Money;

use crate::payment::{Authorization, PaymentGateway};

/// Records an authorization, or answers the one recorded before.
const DECIDE: &str = "INSERT INTO sandbox_payments (order_id, amount_minor, currency, status, authorization_id, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (order_id) DO UPDATE SET order_id = excluded.order_id \
     RETURNING status, authorization_id";

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
        // The order id is the idempotency key: the first call decides, and a
        // later one reads what it decided (the update changes nothing).
        let args = vec![
            Arg::Text(order_id.to_string()),
            Arg::Int(amount.minor_units),
            Arg::Text(amount.currency.as_str().to_string()),
            Arg::Text(status.to_string()),
            Arg::OptionalText(authorization_id),
            Arg::Text(now()),
        ];
        let (status, authorization_id): (String, Option<String>) = if self.db.is_postgres() {
            // The call is logged by the statement that decides: one round trip
            // and one commit, for the sandbox shares the machine with the shop.
            let args = [args, vec![Arg::Text(new_id())]].concat();
            let decide_and_log = format!(
                "WITH payment AS ({DECIDE}), logged AS (INSERT INTO sandbox_payment_calls (id, order_id, operation, outcome, at) \
                 SELECT $7, $1, 'AUTHORIZE', status, $6 FROM payment) SELECT status, authorization_id FROM payment"
            );
            query_as_with(&decide_and_log, &args).fetch_one(&self.db).await?
        } else {
            let decided: (String, Option<String>) = query_as_with(DECIDE, &args).fetch_one(&self.db).await?;
            self.record_call(order_id, "AUTHORIZE", &decided.0).await?;
            decided
        };
        Ok(match authorization_id {
            Some(authorization_id) if status != "DECLINED" => Authorization::Authorized { authorization_id },
            _ => Authorization::Declined { reason: "the card was declined".into() },
        })
    }

    async fn void(&self, order_id: &str) -> anyhow::Result<bool> {
        let outcome = match self.settle(order_id, "VOIDED").await?.as_deref() {
            Some("VOIDED") => "VOIDED",
            Some("CAPTURED") => "NOT_VOIDABLE",
            _ => "NOTHING_TO_VOID",
        };
        self.record_call(order_id, "VOID", outcome).await?;
        Ok(outcome != "NOT_VOIDABLE")
    }

    async fn capture(&self, order_id: &str) -> anyhow::Result<bool> {
        let captured = self.settle(order_id, "CAPTURED").await?.as_deref() == Some("CAPTURED");
        self.record_call(order_id, "CAPTURE", if captured { "CAPTURED" } else { "NOT_CAPTURABLE" }).await?;
        Ok(captured)
    }

    async fn refund(&self, order_id: &str, refund_id: &str, amount: Money) -> anyhow::Result<()> {
        // Paid only from a capture that still covers it; the refund id is the idempotency key.
        sqlx::query(
            "INSERT INTO sandbox_refunds (refund_id, order_id, amount_minor, created_at) SELECT $1, $2, $3, $4 \
             WHERE EXISTS (SELECT 1 FROM sandbox_payments WHERE order_id = $2 AND status = 'CAPTURED' AND currency = $5 \
               AND amount_minor >= $3 + (SELECT COALESCE(SUM(amount_minor), 0) FROM sandbox_refunds WHERE order_id = $2)) \
             ON CONFLICT (refund_id) DO NOTHING",
        )
        .bind(refund_id)
        .bind(order_id)
        .bind(amount.minor_units)
        .bind(now())
        .bind(amount.currency.as_str())
        .execute(&self.db)
        .await?;
        let paid: Option<i64> = sqlx::query_scalar("SELECT amount_minor FROM sandbox_refunds WHERE refund_id = $1").bind(refund_id).fetch_optional(&self.db).await?;
        self.record_call(order_id, "REFUND", if paid.is_some() { "REFUNDED" } else { "REFUSED" }).await?;
        match paid {
            Some(_) => Ok(()),
            None => anyhow::bail!("the provider refused refund {refund_id}: more than the capture of order {order_id} covers"),
        }
    }
}

impl SandboxGateway {
    /// Moves an AUTHORIZED payment to `to` (VOIDED or CAPTURED) and answers
    /// the payment's status after: `to` when this call or an earlier one
    /// moved it, another status when the other move won; None without a payment.
    async fn settle(&self, order_id: &str, to: &str) -> anyhow::Result<Option<String>> {
        sqlx::query("UPDATE sandbox_payments SET status = $1, updated_at = $2 WHERE order_id = $3 AND status = 'AUTHORIZED'")
            .bind(to)
            .bind(now())
            .bind(order_id)
            .execute(&self.db)
            .await?;
        Ok(sqlx::query_scalar("SELECT status FROM sandbox_payments WHERE order_id = $1").bind(order_id).fetch_optional(&self.db).await?)
    }
}
