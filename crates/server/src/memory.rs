//! `queued.max.request.bytes`: one pool of request memory shared by every connection.
//!
//! A connection reads a frame's size prefix, takes that many bytes from the pool, and only
//! then reads (and allocates) the body; the bytes go back when the request has been
//! handled. While the pool is short the connection reads nothing more, and TCP pushes back
//! on its client: thousands of clients each announcing a large request hold at most the
//! pool's size between them, as Kafka's `MemoryPool` does.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The shared pool, in bytes.
#[derive(Debug)]
pub struct RequestMemory {
    /// One permit per byte.
    pool: Arc<Semaphore>,
    /// The pool's size: a request larger than this takes all of it.
    capacity: usize,
}

/// Bytes taken from a [`RequestMemory`], returned when dropped.
#[derive(Debug)]
pub struct Reservation {
    _permit: Option<OwnedSemaphorePermit>,
}

impl RequestMemory {
    /// A pool of `capacity` bytes (at least 1; at most what a semaphore holds).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            pool: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// Waits until `size` bytes (or the whole pool, for a larger request) are free and takes
    /// them. Requests are served in the order they ask (the semaphore is fair: the first
    /// waiter collects what is returned until it has enough), so a large request is not
    /// starved by small ones.
    pub async fn reserve(&self, size: usize) -> Reservation {
        // A frame is at most `i32::MAX` bytes, so the count fits a u32.
        let want = u32::try_from(size.min(self.capacity)).unwrap_or(u32::MAX);
        // The pool is never closed; were it, nothing would be counted any more.
        let permit = self.pool.clone().acquire_many_owned(want).await.ok();
        Reservation { _permit: permit }
    }

    /// Bytes free at this moment.
    pub fn available(&self) -> usize {
        self.pool.available_permits()
    }

    /// The pool's size.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_request_waits_until_memory_is_returned() {
        let memory = RequestMemory::new(100);
        let first = memory.reserve(60).await;
        assert_eq!(memory.available(), 40);
        let second = tokio::time::timeout(Duration::from_millis(50), memory.reserve(60)).await;
        assert!(second.is_err(), "60 more bytes do not fit in the 40 left");
        drop(first);
        let second = memory.reserve(60).await;
        assert_eq!(memory.available(), 40);
        drop(second);
        assert_eq!(memory.available(), 100);
    }

    #[tokio::test]
    async fn a_request_larger_than_the_pool_takes_all_of_it() {
        let memory = RequestMemory::new(100);
        let all = memory.reserve(1_000).await;
        assert_eq!(memory.available(), 0);
        drop(all);
        let none = memory.reserve(0).await;
        assert_eq!(memory.available(), 100);
        drop(none);
        assert_eq!(memory.capacity(), 100);
    }
}
