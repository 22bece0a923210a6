//! Idempotency keys, with the promise payment providers make: the first
//! request under a key decides its answer; the same request sent again gets
//! that answer and changes nothing; a different request under the same key
//! is refused (IDEMPOTENCY_KEY_REUSED), never answered with the old result.

use sqlx::AnyConnection;

use crate::db::{Arg, Db, Write, inserted_once, now};
use crate::domain::IdempotencyKey;
use crate::error::UserError;

/// A request made under an idempotency key.
pub struct Keyed<'a> {
    /// What is asked, e.g. "placeOrder": keys of different operations never meet.
    pub operation: &'static str,
    /// Whose keys these are: each customer's keys are their own; "" shares
    /// one key space between every caller.
    pub owner: &'a str,
    pub key: &'a IdempotencyKey,
    /// Everything the request asks for, in a fixed order, so that a different
    /// request under the same key is recognised.
    pub fingerprint: Vec<String>,
}

/// What a key says about a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Recalled {
    /// The key is new.
    Unused,
    /// The same request was made before; this is the id of what it produced.
    Answered(String),
    /// The key was used for a different request.
    Reused,
}

impl Keyed<'_> {
    fn fingerprint(&self) -> String {
        serde_json::to_string(&self.fingerprint).expect("strings serialize")
    }

    /// What the key says about this request.
    pub async fn recall(&self, db: &Db) -> Result<Recalled, sqlx::Error> {
        let known: Option<(String, String)> = sqlx::query_as(
            "SELECT fingerprint, result_id FROM idempotent_requests WHERE operation = $1 AND owner = $2 AND idempotency_key = $3",
        )
        .bind(self.operation)
        .bind(self.owner)
        .bind(self.key.as_str())
        .fetch_optional(db)
        .await?;
        Ok(match known {
            None => Recalled::Unused,
            Some((fingerprint, result_id)) if fingerprint == self.fingerprint() => Recalled::Answered(result_id),
            Some(_) => Recalled::Reused,
        })
    }

    /// Takes the key for `result_id` inside the transaction that produces it.
    /// False when a concurrent twin took it first: the caller rolls back and
    /// answers what `recall` then says.
    pub async fn claim(&self, conn: &mut AnyConnection, result_id: &str) -> Result<bool, sqlx::Error> {
        inserted_once(self.claiming(result_id).execute(conn).await)
    }

    /// The write `claim` makes, to send with the writes of the result
    /// (`Writes`): a unique violation then says a twin took the key.
    pub fn claiming(&self, result_id: &str) -> Write {
        Write::new(
            "INSERT INTO idempotent_requests (operation, owner, idempotency_key, fingerprint, result_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                Arg::Text(self.operation.to_string()),
                Arg::Text(self.owner.to_string()),
                Arg::Text(self.key.as_str().to_string()),
                Arg::Text(self.fingerprint()),
                Arg::Text(result_id.to_string()),
                Arg::Text(now()),
            ],
        )
    }
}

/// The user error for a key used for a different request.
pub fn key_reused(field: &str) -> UserError {
    UserError::new("IDEMPOTENCY_KEY_REUSED", field, "this idempotencyKey was used for a different request")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_same_request_is_answered_and_a_different_one_refused() {
        let db = crate::db::connect("sqlite::memory:", vec![crate::db::migrator()]).await.unwrap();
        let key = IdempotencyKey::parse("key", "k-1").unwrap();
        let request = |owner: &'static str, amount: &str| Keyed { operation: "pay", owner, key: &key, fingerprint: vec!["cart-1".to_string(), amount.to_string()] };
        assert_eq!(request("ann", "10").recall(&db).await.unwrap(), Recalled::Unused);
        let mut tx = db.begin().await.unwrap();
        assert!(request("ann", "10").claim(&mut tx, "order-1").await.unwrap());
        tx.commit().await.unwrap();
        assert_eq!(request("ann", "10").recall(&db).await.unwrap(), Recalled::Answered("order-1".into()));
        assert_eq!(request("ann", "11").recall(&db).await.unwrap(), Recalled::Reused);
        assert_eq!(request("bob", "11").recall(&db).await.unwrap(), Recalled::Unused, "keys are per owner");
        let mut tx = db.begin().await.unwrap();
        assert!(!request("ann", "10").claim(&mut tx, "order-2").await.unwrap(), "a twin cannot take the key again");
    }
}
