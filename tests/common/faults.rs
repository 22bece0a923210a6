//! Failures injected on purpose, to prove the retry and dead-letter paths: a
//! layer around every subgraph's event handler (`Options::handler_layer`).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use commerce_supergraph::subgraphs::HandlerLayer;
use events::{Envelope, Handler};
use sqlx::AnyConnection;

#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<FaultState>>);

#[derive(Default)]
struct FaultState {
    crash_after_effect: Vec<(String, String)>,
    poisoned: Vec<(String, String)>,
}

impl Faults {
    /// The next delivery of `event_type` to `consumer` fails after its effect,
    /// as if the process died before the delivery was acknowledged.
    pub fn crash_after_effect_once(&self, consumer: &str, event_type: &str) {
        self.state().crash_after_effect.push((consumer.into(), event_type.into()));
    }

    /// Every delivery of `event_type` to `consumer` fails until `cure`.
    pub fn poison(&self, consumer: &str, event_type: &str) {
        self.state().poisoned.push((consumer.into(), event_type.into()));
    }

    pub fn cure(&self, consumer: &str, event_type: &str) {
        self.state().poisoned.retain(|(c, t)| !(c == consumer && t == event_type));
    }

    /// The layer that puts these faults around every handler.
    pub fn layer(&self) -> HandlerLayer {
        let faults = self.clone();
        Arc::new(move |name, inner| Arc::new(Faulty { name, inner, faults: faults.clone() }))
    }

    fn poisoned(&self, consumer: &str, event_type: &str) -> bool {
        self.state().poisoned.iter().any(|(c, t)| c == consumer && t == event_type)
    }

    fn take_crash_after_effect(&self, consumer: &str, event_type: &str) -> bool {
        let mut state = self.state();
        let position = state.crash_after_effect.iter().position(|(c, t)| c == consumer && t == event_type);
        position.map(|i| state.crash_after_effect.remove(i)).is_some()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.0.lock().expect("no code panics while holding the fault lock")
    }
}

struct Faulty {
    name: &'static str,
    inner: Arc<dyn Handler>,
    faults: Faults,
}

#[async_trait]
impl Handler for Faulty {
    async fn handle(&self, tx: &mut AnyConnection, envelope: &Envelope) -> anyhow::Result<()> {
        if self.faults.poisoned(self.name, &envelope.event_type) {
            anyhow::bail!("poisoned by a fault injection");
        }
        self.inner.handle(tx, envelope).await
    }

    /// The crash comes after the effect committed, before the bus hears of it.
    fn committed(&self, envelope: &Envelope) -> anyhow::Result<()> {
        self.inner.committed(envelope)?;
        if self.faults.take_crash_after_effect(self.name, &envelope.event_type) {
            anyhow::bail!("crashed after the effect, before acknowledging (fault injection)");
        }
        Ok(())
    }

    fn records_events(&self) -> bool {
        self.inner.records_events()
    }
}
