//! Group commit: appends that wait for durability at the same time, across all partitions,
//! share one flush wave. Never one fsync per record: a wave flushes each dirty log once,
//! however many appends wait on it, and the appends that arrive during a wave go in the next.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use tracing::warn;

use crate::error::{LogError, Result};
use crate::log::Log;

/// The outcome shared between a flush wave and the appends waiting on it.
#[derive(Debug, Default)]
struct Completion {
    state: Mutex<CompletionState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct CompletionState {
    /// None while pending; Some(Err(message)) when the flush failed.
    result: Option<std::result::Result<(), String>>,
    waker: Option<Waker>,
}

impl Completion {
    fn complete(&self, result: std::result::Result<(), String>) {
        let waker = {
            let mut s = self.state.lock();
            s.result = Some(result);
            s.waker.take()
        };
        self.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Resolves when the log is durable up to the offset asked for: await it from async code,
/// or call [`DurableWait::wait`] from a thread.
#[derive(Debug)]
pub struct DurableWait {
    completion: Arc<Completion>,
    log_name: String,
}

impl DurableWait {
    fn ready(log_name: String) -> Self {
        let c = Completion::default();
        c.state.lock().result = Some(Ok(()));
        Self {
            completion: Arc::new(c),
            log_name,
        }
    }

    fn to_result(&self, r: &std::result::Result<(), String>) -> Result<()> {
        r.clone().map_err(|msg| LogError::Io {
            path: self.log_name.clone().into(),
            source: std::io::Error::other(msg),
        })
    }

    /// Blocks until the flush is done.
    pub fn wait(self) -> Result<()> {
        let mut s = self.completion.state.lock();
        while s.result.is_none() {
            self.completion.cv.wait(&mut s);
        }
        let r = s.result.clone().expect("checked above");
        drop(s);
        self.to_result(&r)
    }
}

impl Future for DurableWait {
    type Output = Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.completion.state.lock();
        match s.result.clone() {
            Some(r) => {
                drop(s);
                Poll::Ready(self.to_result(&r))
            }
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

struct Request {
    log: Arc<Log>,
    offset: i64,
    completion: Option<Arc<Completion>>,
}

#[derive(Default)]
struct Queue {
    requests: Vec<Request>,
    shutdown: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    cv: Condvar,
    /// Waves run so far, and the fsyncs they issued: the bench and tests read them.
    waves: AtomicU64,
    log_flushes: AtomicU64,
}

/// The group-commit thread.
pub(crate) struct Flusher {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher")
            .field("waves", &self.shared.waves.load(Ordering::Relaxed))
            .finish()
    }
}

fn now_ms() -> i64 {
    crate::manager::wall_clock_ms()
}

impl Flusher {
    /// Starts the flush thread; a wave flushes up to `parallelism` logs at once.
    pub fn start(parallelism: usize) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            cv: Condvar::new(),
            waves: AtomicU64::new(0),
            log_flushes: AtomicU64::new(0),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("myelin-flusher".into())
            .spawn(move || run(&s, parallelism.max(1)))
            .expect("spawn the flusher thread");
        Self {
            shared,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Asks for `log` to be durable up to `offset` (exclusive); the result resolves when it
    /// is. With `wait` false, nobody waits: a background flush (`flush.messages`).
    pub fn request(&self, log: &Arc<Log>, offset: i64, wait: bool) -> Option<DurableWait> {
        if log.recovery_point() >= offset {
            return wait.then(|| DurableWait::ready(log.name()));
        }
        let completion = wait.then(|| Arc::new(Completion::default()));
        let mut q = self.shared.queue.lock();
        if q.shutdown {
            drop(q);
            // After shutdown began, flush inline rather than lose the request.
            let r = log.flush(now_ms()).map(|_| ()).map_err(|e| e.to_string());
            return completion.map(|c| {
                c.complete(r);
                DurableWait {
                    completion: c,
                    log_name: log.name(),
                }
            });
        }
        q.requests.push(Request {
            log: log.clone(),
            offset,
            completion: completion.clone(),
        });
        drop(q);
        self.shared.cv.notify_one();
        completion.map(|c| DurableWait {
            completion: c,
            log_name: log.name(),
        })
    }

    /// (waves, log flushes) so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.shared.waves.load(Ordering::Relaxed),
            self.shared.log_flushes.load(Ordering::Relaxed),
        )
    }

    /// Finishes the queued requests and stops the thread.
    pub fn stop(&self) {
        self.shared.queue.lock().shutdown = true;
        self.shared.cv.notify_all();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared, parallelism: usize) {
    loop {
        let requests = {
            let mut q = shared.queue.lock();
            while q.requests.is_empty() && !q.shutdown {
                shared.cv.wait(&mut q);
            }
            if q.requests.is_empty() && q.shutdown {
                return;
            }
            std::mem::take(&mut q.requests)
        };
        shared.waves.fetch_add(1, Ordering::Relaxed);
        // One flush per distinct log, however many requests name it.
        let mut by_log: HashMap<*const Log, (Arc<Log>, Vec<Request>)> = HashMap::new();
        for r in requests {
            by_log
                .entry(Arc::as_ptr(&r.log))
                .or_insert_with(|| (r.log.clone(), Vec::new()))
                .1
                .push(r);
        }
        let groups: Vec<(Arc<Log>, Vec<Request>)> = by_log.into_values().collect();
        let flush_group = |(log, reqs): &(Arc<Log>, Vec<Request>)| {
            let need = reqs.iter().map(|r| r.offset).max().unwrap_or(0);
            let result = if log.recovery_point() >= need {
                Ok(())
            } else {
                shared.log_flushes.fetch_add(1, Ordering::Relaxed);
                log.flush(now_ms()).map(|_| ()).map_err(|e| {
                    warn!(log = %log.name(), error = %e, "flush failed");
                    e.to_string()
                })
            };
            for r in reqs {
                if let Some(c) = &r.completion {
                    let r2 = match &result {
                        Ok(()) if log.recovery_point() >= r.offset => Ok(()),
                        Ok(()) => Err(
                            "the log was truncated below the offset before it was flushed"
                                .to_string(),
                        ),
                        Err(e) => Err(e.clone()),
                    };
                    c.complete(r2);
                }
            }
        };
        if groups.len() == 1 || parallelism == 1 {
            groups.iter().for_each(flush_group);
        } else {
            let chunk = groups.len().div_ceil(parallelism);
            std::thread::scope(|s| {
                for part in groups.chunks(chunk) {
                    s.spawn(|| part.iter().for_each(flush_group));
                }
            });
        }
    }
}
