//! Payments: what checkout needs from a provider (`PaymentGateway`), and the
//! worker that takes each order's payment once inventory has reserved its
//! stock. The order id is the provider's idempotency key, so an
//! authorization asked twice (a redelivered event, a retry) is made once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use events::Outbox;
use kit::background::{Round, repeat};
use kit::db::Db;
use kit::money::Money;
use kit::work::{Claimed, Queue, Retry};
use sqlx::AnyConnection;
use tokio::sync::{Notify, Semaphore, oneshot, watch};
use tracing::Instrument;

use crate::order::{OrderRow, OrderStatus, confirm_order, fail_payment, find_order, find_orders, lines_of_orders};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authorization {
    Authorized { authorization_id: String },
    Declined { reason: String },
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Authorizes `amount` on `token` for `order_id`; asking again for the
    /// same order answers the first outcome and authorizes nothing new.
    async fn authorize(&self, order_id: &str, amount: Money, token: &str) -> anyhow::Result<Authorization>;

    /// Voids the order's authorization; voiding twice is one void. False
    /// when the payment was captured: a capture and a void of one
    /// authorization race at the provider, and exactly one of them wins.
    async fn void(&self, order_id: &str) -> anyhow::Result<bool>;

    /// Captures the order's whole authorization; capturing twice is one
    /// capture. False when there is nothing to capture (voided, never authorized).
    async fn capture(&self, order_id: &str) -> anyhow::Result<bool>;

    /// Pays `amount` back from the order's capture; the same `refund_id` asked
    /// again pays nothing more. An error when more than was captured would be paid back.
    async fn refund(&self, order_id: &str, refund_id: &str, amount: Money) -> anyhow::Result<()>;
}

/// Orders whose payment must be brought in line with their status: taken
/// for a PENDING order, voided for a REJECTED one.
const PAYMENTS_DUE: Queue = Queue { name: "payments", lease: Duration::from_secs(30) };
/// Calls to the provider at once, per replica.
const PAYMENTS_IN_FLIGHT: usize = 32;
/// How often the worker looks without being woken (retries, a lapsed lease).
const POLL: Duration = Duration::from_millis(500);

/// Marks the order's payment as due, inside the transaction that makes it
/// so; a worker claims it.
pub async fn payment_due(tx: &mut AnyConnection, order_id: &str) -> Result<(), sqlx::Error> {
    PAYMENTS_DUE.enqueue(tx, order_id).await
}

/// Marks the order's payment as due and this replica's to take: once the
/// transaction commits, `Payments::take` starts it without claiming it.
pub async fn payment_due_here(tx: &mut AnyConnection, order_id: &str) -> Result<(), sqlx::Error> {
    PAYMENTS_DUE.enqueue_leased(tx, order_id).await
}

/// The payment worker of one replica.
#[derive(Clone)]
pub struct Payments {
    db: Db,
    gateway: Arc<dyn PaymentGateway>,
    outbox: Outbox,
    due: Arc<Notify>,
    in_flight: Arc<Semaphore>,
    tasks: tokio_util::task::TaskTracker,
    /// Payments this replica's consumer queued for it, until the task that
    /// reads their orders takes them: those queued together are read together.
    due_here: Arc<Mutex<Vec<String>>>,
    settling: Arc<Mutex<Settling>>,
}

/// Authorizations waiting for the transaction that settles their orders.
#[derive(Default)]
struct Settling {
    waiting: Vec<Authorized>,
    /// Whether a payment's task is committing a batch (and will take what waits).
    committing: bool,
}

/// An order and what the provider answered for it, waiting to be settled.
struct Authorized {
    order: OrderRow,
    authorization: Authorization,
    /// Whether the order was settled here (false: it settled another way first).
    settled: oneshot::Sender<anyhow::Result<bool>>,
}

impl Payments {
    pub fn new(db: Db, gateway: Arc<dyn PaymentGateway>, outbox: Outbox) -> Self {
        Payments {
            db,
            gateway,
            outbox,
            due: Arc::default(),
            in_flight: Arc::new(Semaphore::new(PAYMENTS_IN_FLIGHT)),
            tasks: tokio_util::task::TaskTracker::new(),
            due_here: Arc::default(),
            settling: Arc::default(),
        }
    }

    /// Wakes the worker: a payment has just become due.
    pub fn wake(&self) {
        self.due.notify_one();
    }

    /// Takes the payment `payment_due_here` queued for this replica. The
    /// consumer hands over a batch's payments one after another without
    /// yielding, so the task started by the first reads all their orders.
    pub fn take(&self, order_id: String) {
        let first = {
            let mut due = self.due_here.lock().expect("no panics under this lock");
            due.push(order_id);
            due.len() == 1
        };
        if first {
            let payments = self.clone();
            self.tasks.spawn(async move { payments.take_due_here().await });
        }
    }

    /// Reads the orders of the payments queued here in one statement, and
    /// settles each on a task of its own.
    async fn take_due_here(&self) {
        let order_ids = std::mem::take(&mut *self.due_here.lock().expect("no panics under this lock"));
        let orders = find_orders(&self.db, &order_ids).await;
        for order_id in order_ids {
            let found = match &orders {
                Ok(orders) => Ok(orders.get(&order_id).cloned()),
                Err(error) => Err(anyhow::anyhow!("reading the orders whose payments fell due: {error}")),
            };
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else { return };
            let payments = self.clone();
            self.tasks.spawn(async move {
                payments.settle_found(Claimed { id: order_id, attempts: 1 }, found).await;
                drop(permit);
            });
        }
    }

    /// Takes due payments until `shutdown`, each on a task of its own, so a
    /// slow provider call delays only its own order. In-flight payments
    /// finish before it returns.
    pub async fn take_payments(self, shutdown: watch::Receiver<bool>) {
        repeat("payments", POLL, Some(&self.due), shutdown, || self.start_due()).await;
        self.tasks.close();
        self.tasks.wait().await;
    }

    async fn start_due(&self) -> anyhow::Result<Round> {
        let free = self.in_flight.available_permits() as i64;
        if free == 0 {
            return Ok(Round::Idle);
        }
        let claimed = PAYMENTS_DUE.claim(&self.db, free).await?;
        let busy = claimed.len() as i64 == free;
        for item in claimed {
            let permit = self.in_flight.clone().acquire_owned().await?;
            let payments = self.clone();
            self.tasks.spawn(async move {
                payments.settle(item).await;
                drop(permit);
                payments.wake();
            });
        }
        Ok(if busy { Round::Busy } else { Round::Idle })
    }

    /// Brings one order's payment in line with its status; a failure is tried again after a backoff.
    async fn settle(&self, item: Claimed) {
        let found = find_order(&self.db, &item.id).await.map_err(anyhow::Error::from);
        self.settle_found(item, found).await
    }

    /// As `settle`, the order read already.
    async fn settle_found(&self, item: Claimed, found: anyhow::Result<Option<OrderRow>>) {
        // Ok(true): the item was finished with the order's settlement.
        let settled = match found {
            Ok(Some(order)) => match order.status() {
                Ok(OrderStatus::Pending) => self.authorize_payment(&order).await,
                Ok(OrderStatus::Rejected) => self.gateway.void(&order.id).await.map(|_| false),
                Ok(_) => Ok(false),
                Err(error) => Err(error),
            },
            Ok(None) => Err(anyhow::anyhow!("no order {}", item.id)),
            Err(error) => Err(error),
        };
        let finished = match settled {
            Ok(true) => Ok(()),
            Ok(false) => PAYMENTS_DUE.finish(&self.db, std::slice::from_ref(&item.id)).await,
            Err(error) => {
                tracing::warn!(order_id = %item.id, attempts = item.attempts, error = %format!("{error:#}"), "settling the payment failed; will retry");
                PAYMENTS_DUE.retry_later(&self.db, &item, &error, &Retry::default()).await
            }
        };
        if let Err(error) = finished {
            tracing::warn!(order_id = %item.id, %error, "could not record the payment's outcome; its lease will lapse");
        }
    }

    /// Authorizes the order's total (idempotently, per order) and settles the
    /// order either way, CONFIRMED or PAYMENT_FAILED, finishing its work item
    /// in the same transaction (true). An authorization that arrives after the
    /// order settled another way is voided, and the item is left to the caller (false).
    async fn authorize_payment(&self, order: &OrderRow) -> anyhow::Result<bool> {
        let span = tracing::info_span!("authorize_payment", order_id = %order.id, trace_id = kit::trace::trace_id(order.traceparent.as_deref()));
        kit::trace::continue_trace(&span, order.traceparent.as_deref());
        self.authorize_and_settle(order).instrument(span).await
    }

    async fn authorize_and_settle(&self, order: &OrderRow) -> anyhow::Result<bool> {
        let token = order.payment_token.clone().unwrap_or_default();
        let authorization = self.gateway.authorize(&order.id, order.total()?, &token).await?;
        let settled_here = self.settle_order(order.clone(), authorization).await?;
        if !settled_here {
            // The order settled another way (its reservation expired) while the provider answered.
            self.gateway.void(&order.id).await?;
        }
        Ok(settled_here)
    }

    /// Settles the order as the provider answered, in one transaction with
    /// the other orders whose answers arrived meanwhile: the task that finds
    /// no transaction under way commits what waits, batch after batch, and
    /// the others wait for their outcome. One commit for the lot, which is
    /// most of what settling an order costs the database.
    async fn settle_order(&self, order: OrderRow, authorization: Authorization) -> anyhow::Result<bool> {
        let (settled, outcome) = oneshot::channel();
        let leads = {
            let mut settling = self.settling.lock().expect("no panics under this lock");
            settling.waiting.push(Authorized { order, authorization, settled });
            !std::mem::replace(&mut settling.committing, true)
        };
        if leads {
            loop {
                let batch = {
                    let mut settling = self.settling.lock().expect("no panics under this lock");
                    if settling.waiting.is_empty() {
                        settling.committing = false;
                        break;
                    }
                    std::mem::take(&mut settling.waiting)
                };
                self.settle_together(batch).await;
            }
        }
        outcome.await.map_err(|_| anyhow::anyhow!("the settling task stopped"))?
    }

    /// Settles `batch` in one transaction; should that fail, each on its own,
    /// so one bad order costs the others only a second try.
    async fn settle_together(&self, batch: Vec<Authorized>) {
        if batch.len() > 1 {
            let authorized: Vec<(&OrderRow, &Authorization)> = batch.iter().map(|a| (&a.order, &a.authorization)).collect();
            match self.commit_settlements(&authorized).await {
                Ok(settled) => {
                    for (authorized, settled_here) in batch.into_iter().zip(settled) {
                        let _ = authorized.settled.send(Ok(settled_here));
                    }
                    return;
                }
                Err(error) => tracing::debug!(orders = batch.len(), error = %format!("{error:#}"), "settling a batch failed; settling its orders one by one"),
            }
        }
        for authorized in batch {
            let settled = self.commit_settlements(&[(&authorized.order, &authorized.authorization)]).await.map(|settled| settled[0]);
            let _ = authorized.settled.send(settled);
        }
    }

    /// CONFIRMED or PAYMENT_FAILED for each order, each one's work item
    /// finished, in one transaction: answers which were settled here.
    async fn commit_settlements(&self, authorized: &[(&OrderRow, &Authorization)]) -> anyhow::Result<Vec<bool>> {
        let mut tx = self.db.begin().await?;
        // The lines OrderConfirmed carries, for all the confirmed orders at once.
        let confirmed: Vec<String> =
            authorized.iter().filter(|(_, authorization)| matches!(authorization, Authorization::Authorized { .. })).map(|(order, _)| order.id.clone()).collect();
        let lines = lines_of_orders(&mut tx, &confirmed).await?;
        let mut settled = Vec::with_capacity(authorized.len());
        let mut announced = Vec::new();
        for (order, authorization) in authorized {
            let (settled_here, event) = match authorization {
                Authorization::Authorized { .. } => {
                    let confirmed = confirm_order(&mut tx, order, lines.get(&order.id).map_or(&[], Vec::as_slice)).await?;
                    (confirmed.is_some(), confirmed)
                }
                Authorization::Declined { reason } => (true, fail_payment(&mut tx, order, reason).await?),
            };
            settled.push(settled_here);
            announced.extend(event);
        }
        let finished: Vec<String> = authorized.iter().zip(&settled).filter(|(_, settled)| **settled).map(|((order, _), _)| order.id.clone()).collect();
        PAYMENTS_DUE.finish(&mut *tx, &finished).await?;
        tx.commit().await?;
        self.outbox.committed_and_announced(&announced);
        Ok(settled)
    }
}
