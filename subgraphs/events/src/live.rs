//! Live updates for subscriptions. A follower hears only the events about
//! what it follows (their ordering key: an order, a sku), so an event wakes
//! its own followers rather than every open subscription of the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use super::Envelope;

/// Events a follower has not read yet before it is told it lagged (and
/// should read the state again): far more than one order's saga emits.
const BACKLOG: usize = 16;

type Followed = HashMap<String, broadcast::Sender<Arc<Envelope>>>;

/// The keys followed in this process, each with its followers.
#[derive(Clone, Default)]
pub(crate) struct Live(Arc<Mutex<Followed>>);

impl Live {
    pub(crate) fn follow(&self, key: &str) -> Following {
        let mut followed = self.0.lock().expect("no panics under this lock");
        let events = followed.entry(key.to_string()).or_insert_with(|| broadcast::channel(BACKLOG).0).subscribe();
        Following { key: key.to_string(), events: Some(events), live: self.clone() }
    }

    /// Hands `envelope` to the followers of its key, if it has any.
    pub(crate) fn publish(&self, envelope: &Envelope) {
        let followed = self.0.lock().expect("no panics under this lock");
        if let Some(followers) = followed.get(envelope.ordering_key()) {
            let _ = followers.send(Arc::new(envelope.clone()));
        }
    }
}

/// The events about one key published since it was made; dropping it stops following.
pub struct Following {
    key: String,
    /// None only while it is dropped.
    events: Option<broadcast::Receiver<Arc<Envelope>>>,
    live: Live,
}

impl Following {
    /// The next event about the key; `Lagged` when some were missed.
    pub async fn recv(&mut self) -> Result<Arc<Envelope>, broadcast::error::RecvError> {
        match &mut self.events {
            Some(events) => events.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let mut followed = self.live.0.lock().expect("no panics under this lock");
        // Under the lock, so that two last followers leaving together cannot both see the other.
        self.events = None;
        if followed.get(&self.key).is_some_and(|followers| followers.receiver_count() == 0) {
            followed.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_about(order_id: &str) -> Envelope {
        Envelope {
            id: kit::db::new_id(),
            event_type: "OrderConfirmed".into(),
            version: 1,
            occurred_at: kit::db::now(),
            producer: "orders".into(),
            correlation_id: "c".into(),
            traceparent: None,
            payload: serde_json::json!({ "order_id": order_id }),
        }
    }

    #[tokio::test]
    async fn a_follower_hears_only_the_events_about_its_key() {
        let live = Live::default();
        let mut first = live.follow("order-1");
        let mut second = live.follow("order-2");
        live.publish(&event_about("order-2"));
        live.publish(&event_about("order-1"));
        assert_eq!(first.recv().await.unwrap().payload["order_id"], "order-1");
        assert_eq!(second.recv().await.unwrap().payload["order_id"], "order-2");
        for following in [&mut first, &mut second] {
            assert!(following.events.as_mut().unwrap().try_recv().is_err());
        }
    }

    #[tokio::test]
    async fn a_key_is_forgotten_when_its_last_follower_goes() {
        let live = Live::default();
        let first = live.follow("order-1");
        let mut second = live.follow("order-1");
        drop(first);
        live.publish(&event_about("order-1"));
        assert_eq!(second.recv().await.unwrap().payload["order_id"], "order-1");
        drop(second);
        assert!(live.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_follower_that_fell_behind_is_told_so() {
        let live = Live::default();
        let mut following = live.follow("order-1");
        for _ in 0..=BACKLOG {
            live.publish(&event_about("order-1"));
        }
        assert!(matches!(following.recv().await, Err(broadcast::error::RecvError::Lagged(1))));
    }
}
