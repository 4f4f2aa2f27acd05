//! Admission control for queries: a bounded number run, a bounded number wait, the rest are
//! turned away at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Result, WorkerError};

/// Lets at most `running` queries run and `queue` more wait; any further one is refused.
#[derive(Debug)]
pub(crate) struct Admission {
    running: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    limit: usize,
}

/// A query's place: running once the permit is held; released when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    admitted: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission {
    pub(crate) fn new(running: usize, queue: usize) -> Self {
        let running = running.max(1);
        Self {
            running: Arc::new(Semaphore::new(running)),
            admitted: Arc::new(AtomicUsize::new(0)),
            limit: running + queue,
        }
    }

    /// Take a place, waiting for a running slot; [`WorkerError::Busy`] at once when full.
    pub(crate) async fn enter(&self) -> Result<Slot> {
        if self.admitted.fetch_add(1, Ordering::SeqCst) >= self.limit {
            self.admitted.fetch_sub(1, Ordering::SeqCst);
            return Err(WorkerError::Busy);
        }
        let waiting = Waiting(self.admitted.clone());
        let permit = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| WorkerError::Busy)?;
        std::mem::forget(waiting);
        Ok(Slot {
            _permit: permit,
            admitted: self.admitted.clone(),
        })
    }

    /// Queries admitted (running or waiting).
    pub(crate) fn admitted(&self) -> usize {
        self.admitted.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_queue_answers_busy_at_once() {
        let admission = Admission::new(1, 1);
        let running = admission.enter().await.unwrap();
        let waiting = {
            let fut = admission.enter();
            tokio::pin!(fut);
            assert!(
                tokio::time::timeout(std::time::Duration::from_millis(20), &mut fut)
                    .await
                    .is_err()
            );
            assert_eq!(admission.admitted(), 2);
            assert!(matches!(admission.enter().await, Err(WorkerError::Busy)));
            drop(running);
            fut.await.unwrap()
        };
        assert_eq!(admission.admitted(), 1);
        drop(waiting);
        assert_eq!(admission.admitted(), 0);
    }
}
