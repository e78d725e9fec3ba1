//! Group commit: appends that wait for durability share a flush of their log. Never one
//! fsync per record: a flush covers every append made to the log before it started,
//! however many wait on it, and the appends that arrive while it runs go in the log's next
//! flush, which starts as soon as this one ends (under load, a flush of a single request
//! first waits [`COALESCE`] for others to join it, while such waits gain company; on a
//! quiet broker it starts at once).
//! Up to `parallelism` logs flush at once, on threads
//! kept for the flusher's life, and fewer while flushes find several appends waiting:
//! holding a log back then lets its next flush cover more of them (see [`Limit`]).
//!
//! One more thread starts the writeback of logs flushed only now and then (`flush.ms`)
//! every [`crate::log::WRITE_BEHIND_BYTES`] appended to one ([`Log::write_behind`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tracing::{debug, warn};

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
    offset: i64,
    completion: Option<Arc<Completion>>,
}

/// What the flush threads share: the requests waiting per log, the logs ready to be
/// flushed, and the logs being flushed.
struct Queue {
    /// Requests not yet taken by a flush, per log (keyed by the log's address: the `Arc`
    /// here, or the one its flushing thread holds, keeps the log alive while its key is in
    /// use).
    pending: HashMap<usize, (Arc<Log>, Vec<Request>)>,
    /// Logs with pending requests and no flush running, in arrival order.
    ready: VecDeque<usize>,
    /// Logs a thread is flushing now: their new requests wait for that flush to end.
    busy: HashSet<usize>,
    /// How many flushes may run at once now.
    limit: Limit,
    shutdown: bool,
}

/// The number of flushes allowed to run at once, between `floor` and `max` (the threads).
///
/// Each log taken for a flush says whether holding logs back pays: one that gathered
/// several appends while it waited would have needed one fdatasync per append had it been
/// flushed at once. While more than a quarter of recent flushes gathered several (an
/// average over about the last 64), the limit steps down and logs queue a little longer:
/// fewer, larger flushes, less kernel CPU per byte. Otherwise it steps up and more flushes
/// overlap on the device: many partitions written a request at a time, or a light load,
/// gain nothing from waiting. With few partitions under load the limit settles low; with
/// many, or under a light load, it stays at the number of threads.
#[derive(Debug, Clone, Copy)]
struct Limit {
    now: usize,
    floor: usize,
    max: usize,
    running: usize,
    /// Average share of recent flushes that found several appends waiting.
    batched: f64,
    /// Average number of appends that joined a lone append's flush while it waited for
    /// company (over about the last [`Limit::GAIN_WEIGHT`]⁻¹ waits).
    gained: f64,
    /// Lone appends flushed at once, since the last wait, because waits were gaining
    /// nothing: every [`Limit::PROBE`]-th waits anyway, so that `gained` follows the load.
    skipped: u32,
}

impl Limit {
    /// Weight of the latest flush in `batched`.
    const WEIGHT: f64 = 1.0 / 64.0;
    /// Above this share of batched flushes, holding back pays.
    const BATCHED: f64 = 0.25;
    /// Weight of the latest wait in `gained`.
    const GAIN_WEIGHT: f64 = 1.0 / 32.0;
    /// A wait pays while it gains at least this many appends on average: each saves an
    /// fdatasync, whose CPU (tens of microseconds of kernel work) is several times what
    /// the wait's timer and wake-ups cost.
    const GAIN: f64 = 0.2;
    /// While waits do not pay, one lone append in this many waits all the same.
    const PROBE: u32 = 32;

    fn new(max: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_floor(max, 2 * cores)
    }

    fn with_floor(max: usize, floor: usize) -> Self {
        let max = max.max(1);
        Self {
            now: max,
            floor: floor.clamp(1, max),
            max,
            running: 0,
            batched: 0.0,
            gained: 1.0,
            skipped: 0,
        }
    }

    fn may_start(&self) -> bool {
        self.running < self.now
    }

    /// Whether holding a log back pays now: more than a quarter of recent flushes
    /// gathered several appends.
    fn batching(&self) -> bool {
        self.batched > Self::BATCHED
    }

    /// Whether a flush just started (counted in `running`) of `waiting` appends should
    /// first wait [`COALESCE`] for others to join it: a lone append, under load (while
    /// flushes batch, or while another log is being flushed), while such waits gain
    /// company ([`Limit::GAIN`]; one in [`Limit::PROBE`] waits regardless, to notice
    /// when they would again). On a quiet broker it is flushed at once, and so it is
    /// when the load is spread too thinly for anything to join it in time: many
    /// partitions written lightly, or one request's batches to many partitions.
    fn wait_for_company(&mut self, waiting: usize) -> bool {
        if waiting >= 2 || !(self.batching() || self.running > 1) {
            return false;
        }
        if self.gained >= Self::GAIN || self.skipped + 1 >= Self::PROBE {
            self.skipped = 0;
            true
        } else {
            self.skipped += 1;
            false
        }
    }

    /// A wait for company ended with `joined` more appends in the flush.
    fn waited(&mut self, joined: usize) {
        self.gained += (joined as f64 - self.gained) * Self::GAIN_WEIGHT;
    }

    /// A log was taken holding `waiting` appends.
    fn saw(&mut self, waiting: usize) {
        let batched = if waiting > 1 { 1.0 } else { 0.0 };
        self.batched += (batched - self.batched) * Self::WEIGHT;
        self.now = if self.batching() {
            self.now.saturating_sub(1).max(self.floor)
        } else {
            (self.now + 1).min(self.max)
        };
    }
}

struct Shared {
    queue: Mutex<Queue>,
    cv: Condvar,
    /// Flushes handed to a thread so far (one log each, however many requests it
    /// covers), and the fsyncs they issued: the bench and tests read them.
    waves: AtomicU64,
    log_flushes: AtomicU64,
    /// Told how long each log flush took (the broker's flush-time histogram).
    observer: OnceLock<FlushObserver>,
}

/// Called with the duration of every log flush the flusher does.
pub type FlushObserver = Arc<dyn Fn(Duration) + Send + Sync>;

/// The logs waiting for a write-behind, and whether the flusher is stopping.
#[derive(Default)]
struct Behind {
    queue: Mutex<(VecDeque<Arc<Log>>, bool)>,
    cv: Condvar,
}

/// The group-commit threads.
pub(crate) struct Flusher {
    shared: Arc<Shared>,
    behind: Arc<Behind>,
    threads: Mutex<Vec<JoinHandle<()>>>,
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
    /// Starts `parallelism` flush threads, kept for the flusher's life: up to that many
    /// logs are flushed at once (their fdatasyncs overlap on the device), and a log whose
    /// flush ends starts its next one at once for the requests that came meanwhile,
    /// without waiting for other logs' flushes.
    pub fn start(parallelism: usize) -> Self {
        let parallelism = parallelism.max(1);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                pending: HashMap::new(),
                ready: VecDeque::new(),
                busy: HashSet::new(),
                limit: Limit::new(parallelism),
                shutdown: false,
            }),
            cv: Condvar::new(),
            waves: AtomicU64::new(0),
            log_flushes: AtomicU64::new(0),
            observer: OnceLock::new(),
        });
        let behind = Arc::new(Behind::default());
        let mut threads: Vec<JoinHandle<()>> = (0..parallelism)
            .map(|i| {
                let s = shared.clone();
                std::thread::Builder::new()
                    .name(if i == 0 {
                        "myelin-flusher".into()
                    } else {
                        format!("myelin-flush-{i}")
                    })
                    .stack_size(256 << 10)
                    .spawn(move || run(&s))
                    .expect("spawn a flusher thread")
            })
            .collect();
        let b = behind.clone();
        threads.push(
            std::thread::Builder::new()
                .name("myelin-write-behind".into())
                .stack_size(256 << 10)
                .spawn(move || run_write_behind(&b))
                .expect("spawn the write-behind thread"),
        );
        Self {
            shared,
            behind,
            threads: Mutex::new(threads),
        }
    }

    /// Queues a write-behind of `log` (the caller saw [`Log::note_for_write_behind`] say
    /// one is due, so the log is queued at most once).
    pub fn write_behind(&self, log: &Arc<Log>) {
        let mut q = self.behind.queue.lock();
        if q.1 {
            return;
        }
        q.0.push_back(log.clone());
        drop(q);
        self.behind.cv.notify_one();
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
        let key = Arc::as_ptr(log) as usize;
        let queue = &mut *q;
        let entry = queue
            .pending
            .entry(key)
            .or_insert_with(|| (log.clone(), Vec::new()));
        let first = entry.1.is_empty();
        entry.1.push(Request {
            offset,
            completion: completion.clone(),
        });
        let wake = first && !queue.busy.contains(&key);
        if wake {
            queue.ready.push_back(key);
        }
        drop(q);
        if wake {
            self.shared.cv.notify_one();
        }
        completion.map(|c| DurableWait {
            completion: c,
            log_name: log.name(),
        })
    }

    /// Sets the function told the duration of every log flush (once; later calls are
    /// ignored).
    pub fn set_observer(&self, observer: FlushObserver) {
        let _ = self.shared.observer.set(observer);
    }

    /// (flushes handed out, log fsyncs) so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.shared.waves.load(Ordering::Relaxed),
            self.shared.log_flushes.load(Ordering::Relaxed),
        )
    }

    /// Finishes the queued requests and stops the threads.
    pub fn stop(&self) {
        self.shared.queue.lock().shutdown = true;
        self.shared.cv.notify_all();
        self.behind.queue.lock().1 = true;
        self.behind.cv.notify_all();
        let threads = std::mem::take(&mut *self.threads.lock());
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How long a flush of a single request waits for others to join it, under load
/// ([`Limit::wait_for_company`]).
const COALESCE: Duration = Duration::from_micros(100);

/// One flush thread: takes a ready log and every request waiting on it, flushes it once,
/// completes the requests, and puts the log back in line if more came meanwhile.
fn run(shared: &Shared) {
    let mut q = shared.queue.lock();
    loop {
        // At shutdown every thread drains the queue, whatever the limit.
        if !q.limit.may_start() && !q.shutdown {
            shared.cv.wait(&mut q);
            continue;
        }
        let Some(key) = q.ready.pop_front() else {
            // Others may still be flushing: their requeued logs go to whoever is awake;
            // they look at the queue again before they stop.
            if q.shutdown {
                return;
            }
            shared.cv.wait(&mut q);
            continue;
        };
        let Some((log, mut reqs)) = q.pending.remove(&key) else {
            continue;
        };
        q.busy.insert(key);
        q.limit.saw(reqs.len());
        q.limit.running += 1;
        let another = q.limit.may_start() && !q.ready.is_empty();
        let coalesce = q.limit.wait_for_company(reqs.len());
        drop(q);
        if another {
            // The limit may have risen: an idle thread takes the next log.
            shared.cv.notify_one();
        }
        if coalesce {
            // A lone request under load: give others a moment to join its flush (there,
            // an fdatasync per append costs more CPU than this wait costs latency).
            std::thread::sleep(COALESCE);
            let mut q = shared.queue.lock();
            let more = q.pending.remove(&key).map(|(_, more)| more);
            q.limit.waited(more.as_ref().map_or(0, |more| more.len()));
            drop(q);
            if let Some(more) = more {
                reqs.extend(more);
            }
        }
        shared.waves.fetch_add(1, Ordering::Relaxed);
        flush_group(shared, &log, &reqs);
        q = shared.queue.lock();
        q.busy.remove(&key);
        q.limit.running -= 1;
        if q.pending.get(&key).is_some_and(|(_, r)| !r.is_empty()) {
            q.ready.push_back(key);
        }
        if !q.ready.is_empty() {
            // This thread takes the next log unless another is idle; a thread held back
            // by the limit may go now that this flush is done (or the limit rose).
            shared.cv.notify_one();
        }
    }
}

/// The write-behind thread: starts the writeback of each queued log until the flusher
/// stops (what is still queued then is left to the flushes).
fn run_write_behind(behind: &Behind) {
    let mut q = behind.queue.lock();
    loop {
        if q.1 {
            return;
        }
        let Some(log) = q.0.pop_front() else {
            behind.cv.wait(&mut q);
            continue;
        };
        drop(q);
        if let Err(e) = log.write_behind() {
            // The next flush of the log reports a write error; this one only started it.
            debug!(log = %log.name(), error = %e, "write-behind failed");
        }
        q = behind.queue.lock();
    }
}

/// Flushes `log` once for all of `reqs` (unless a flush already covered them) and
/// completes them.
fn flush_group(shared: &Shared, log: &Arc<Log>, reqs: &[Request]) {
    let need = reqs.iter().map(|r| r.offset).max().unwrap_or(0);
    let result = if log.recovery_point() >= need {
        Ok(())
    } else {
        shared.log_flushes.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let r = log.flush(now_ms()).map(|_| ()).map_err(|e| {
            warn!(log = %log.name(), error = %e, "flush failed");
            e.to_string()
        });
        if let Some(observe) = shared.observer.get() {
            observe(started.elapsed());
        }
        r
    };
    for r in reqs {
        if let Some(c) = &r.completion {
            let r2 = match &result {
                Ok(()) if log.recovery_point() >= r.offset => Ok(()),
                Ok(()) => {
                    Err("the log was truncated below the offset before it was flushed".to_string())
                }
                Err(e) => Err(e.clone()),
            };
            c.complete(r2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Limit;

    #[test]
    fn the_limit_falls_while_flushes_batch_and_rises_while_they_do_not() {
        let mut l = Limit::with_floor(16, 4);
        assert_eq!(l.now, 16);
        // Lone appends: nothing to gain from waiting, the limit stays at the threads.
        for _ in 0..1000 {
            l.saw(1);
        }
        assert_eq!(l.now, 16);
        assert!(!l.batching());
        // Most flushes gather several appends: it falls to the floor, not below.
        for i in 0..1000 {
            l.saw(if i % 2 == 0 { 5 } else { 1 });
        }
        assert_eq!(l.now, 4);
        assert!(l.batching());
        // A few batched among many lone ones: back up to the threads.
        for i in 0..1000 {
            l.saw(if i % 10 == 0 { 3 } else { 1 });
        }
        assert_eq!(l.now, 16);
        assert!(!l.batching());
    }

    #[test]
    fn a_lone_append_waits_for_company_only_under_load() {
        let mut l = Limit::with_floor(16, 4);
        for _ in 0..1000 {
            l.saw(1);
        }
        // Quiet: this flush is the only one, and flushes have not been batching.
        l.running = 1;
        assert!(!l.wait_for_company(1));
        // Another log is being flushed: the broker is busy, so the lone append waits.
        l.running = 2;
        assert!(l.wait_for_company(1));
        // Appends that already have company never wait.
        assert!(!l.wait_for_company(2));
        // Flushes batching: a lone append waits even when no other flush runs.
        for i in 0..1000 {
            l.saw(if i % 2 == 0 { 5 } else { 1 });
        }
        l.running = 1;
        assert!(l.wait_for_company(1));
        assert!(!l.wait_for_company(3));
    }

    #[test]
    fn waits_that_gain_nothing_stop_but_for_probes_and_resume_when_they_gain() {
        let mut l = Limit::with_floor(16, 4);
        l.running = 2;
        // Waits have gained nothing for a while: lone appends are flushed at once, but
        // for one probe in every PROBE.
        for _ in 0..200 {
            l.waited(0);
        }
        let waits = (0..Limit::PROBE * 10)
            .filter(|_| l.wait_for_company(1))
            .count();
        assert_eq!(waits, 10);
        // The load changed: probes find company, and waiting resumes for every lone append.
        let mut probes = 0;
        while !(0..Limit::PROBE).all(|_| l.wait_for_company(1)) {
            l.waited(2);
            probes += 1;
            assert!(probes < 100, "waits never resumed");
        }
        // A few waits that gain nothing do not stop waiting at once.
        for _ in 0..5 {
            l.waited(0);
        }
        assert!(l.wait_for_company(1));
        // On a quiet broker no append waits, whatever waits gained.
        l.running = 1;
        assert!(!l.wait_for_company(1));
    }

    #[test]
    fn the_limit_gates_starts_and_a_single_thread_has_no_room_to_move() {
        let mut l = Limit::with_floor(16, 4);
        l.running = 16;
        assert!(!l.may_start());
        l.running = 15;
        assert!(l.may_start());
        let mut one = Limit::with_floor(1, 4);
        for _ in 0..100 {
            one.saw(7);
        }
        assert_eq!((one.now, one.floor), (1, 1));
        assert!(one.may_start());
    }
}
