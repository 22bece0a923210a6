//! The loop behind every piece of background work (the outbox relay, the
//! payment worker, the reservation expiry sweep): run a round, then wait for
//! a wake-up, the poll interval or shutdown, whichever comes first.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// How a round went.
pub enum Round {
    /// There may be more to do at once (a full batch was taken).
    Busy,
    /// Nothing more for now: wait.
    Idle,
}

/// Runs `round` until `shutdown` turns true: again at once after a busy
/// round, else after `every` or as soon as `wake` is notified. A failed round
/// is logged and tried again after the wait.
pub async fn repeat<F, Fut>(work: &'static str, every: Duration, wake: Option<&Notify>, mut shutdown: watch::Receiver<bool>, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Round>>,
{
    loop {
        match round().await {
            Ok(Round::Busy) if !*shutdown.borrow() => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(work, error = %format!("{error:#}"), "background work failed; retrying"),
        }
        let woken = async {
            match wake {
                Some(wake) => wake.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(every) => {}
            _ = stopping(&mut shutdown) => return,
        }
    }
}

/// Listens for SIGINT (Ctrl-C) and SIGTERM (what containers, systemd and
/// Kubernetes send) from the moment it is called, and resolves at the first.
/// Call it before serving: a process asked to stop the instant it answers
/// its health check must stop gracefully, not die of the signal's default.
pub fn termination() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Resolves once `shutdown` turns true (or its sender is gone). The guard
/// `wait_for` returns is dropped here, so callers stay `Send` across awaits.
pub async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn rounds_run_on_wake_up_and_stop_on_shutdown() {
        let rounds = Arc::new(AtomicUsize::new(0));
        let wake = Arc::new(Notify::new());
        let (stop, shutdown) = watch::channel(false);
        let worker = {
            let (rounds, wake) = (rounds.clone(), wake.clone());
            tokio::spawn(async move {
                repeat("test", Duration::from_secs(3600), Some(&wake), shutdown, || {
                    let done = rounds.fetch_add(1, Ordering::SeqCst) + 1;
                    async move { Ok(if done < 3 { Round::Busy } else { Round::Idle }) }
                })
                .await
            })
        };
        while rounds.load(Ordering::SeqCst) < 3 {
            tokio::task::yield_now().await;
        }
        wake.notify_one();
        while rounds.load(Ordering::SeqCst) < 4 {
            tokio::task::yield_now().await;
        }
        stop.send(true).unwrap();
        worker.await.unwrap();
        assert_eq!(rounds.load(Ordering::SeqCst), 4, "two busy rounds ran at once, the wake-up ran one more");
    }
}
