//! Our own load generator: pre-encoded Produce requests sent over several connections with
//! many requests in flight, a fetch generator, the trivial TCP sink that is the loopback
//! ceiling, and the disk ceilings.

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::wire::{self, read_frame};

/// What one load run did.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    /// Requests answered.
    pub requests: u64,
    /// Bytes of the answered requests (produce) or of the responses (fetch), frames whole.
    pub bytes: u64,
    /// Records in them.
    pub records: u64,
    /// From the first send to the last answer.
    pub elapsed: Duration,
    /// Latencies (from the scheduled send time to the answer), in microseconds.
    pub latencies_us: Vec<u32>,
    /// Answers with an error code (the first code seen is kept).
    pub errors: u64,
    pub first_error: i16,
}

impl RunStats {
    pub fn mib_per_s(&self) -> f64 {
        crate::mib_per_s(self.bytes, self.elapsed)
    }
    pub fn records_per_s(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn requests_per_s(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn merge(&mut self, o: RunStats) {
        self.requests += o.requests;
        self.bytes += o.bytes;
        self.records += o.records;
        self.elapsed = self.elapsed.max(o.elapsed);
        self.latencies_us.extend(o.latencies_us);
        if self.errors == 0 {
            self.first_error = o.first_error;
        }
        self.errors += o.errors;
    }
}

/// Percentile `q` (0..=1) of `v` (sorted in place), in milliseconds.
pub fn percentile_ms(v: &mut [u32], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i] as f64 / 1000.0
}

/// How requests are paced.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// As fast as the window allows.
    Peak,
    /// This many requests per second in all, spread evenly over the connections, latency
    /// measured from each request's scheduled time (free of coordinated omission).
    Rate(f64),
}

/// Where the requests come from.
pub enum Source {
    /// The same pre-encoded frames again and again (connection `c` sends frame
    /// `(c + i * conns) % len`): CRCs computed once, no per-request work.
    Fixed(Arc<Vec<Bytes>>),
    /// A frame built per request from its scheduled time (latency runs stamp payloads).
    Built(Arc<dyn Fn(usize, u64) -> Bytes + Send + Sync>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Fixed(frames) => write!(f, "Fixed({} frames)", frames.len()),
            Source::Built(_) => f.write_str("Built"),
        }
    }
}

/// Produce load: `conns` connections to `addr`, `window` requests in flight on each, for
/// `duration`. `decode` checks each answer's error codes (not for the sink, whose answers
/// are not Produce responses). `records_per_request` counts records.
#[allow(clippy::too_many_arguments)]
pub fn produce_load(
    addr: SocketAddr,
    conns: usize,
    window: usize,
    duration: Duration,
    pace: Pace,
    source: &Source,
    records_per_request: u64,
    decode: bool,
) -> RunStats {
    let start = Instant::now() + Duration::from_millis(5);
    let mut handles = Vec::new();
    for c in 0..conns {
        let stream = TcpStream::connect(addr).expect("connect the load generator");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let read_half = stream.try_clone().expect("clone the socket");
        let (tx, rx) = sync_channel::<(Instant, u64)>(window);
        let frames = match source {
            Source::Fixed(f) => Source::Fixed(Arc::clone(f)),
            Source::Built(b) => Source::Built(Arc::clone(b)),
        };
        let writer = std::thread::spawn(move || {
            let mut out = BufWriter::with_capacity(256 << 10, stream);
            let interval = match pace {
                Pace::Peak => None,
                Pace::Rate(r) => Some(Duration::from_secs_f64(conns as f64 / r)),
            };
            // Each connection's schedule starts at its own phase.
            let phase = interval.map(|i| i.mul_f64(c as f64 / conns as f64));
            let mut i = 0usize;
            loop {
                let scheduled = match (interval, phase) {
                    (Some(iv), Some(ph)) => start + ph + iv.mul_f64(i as f64),
                    _ => Instant::now().max(start),
                };
                if scheduled.duration_since(start) >= duration {
                    break;
                }
                let now = Instant::now();
                if scheduled > now {
                    out.flush().expect("send requests");
                    std::thread::sleep(scheduled - now);
                }
                let frame = match &frames {
                    Source::Fixed(f) => f[(c + i * conns) % f.len()].clone(),
                    Source::Built(b) => b(c + i * conns, wire::stamp_of(scheduled)),
                };
                // A slot in the window first: blocks while `window` requests are out.
                if tx.try_send((scheduled, frame.len() as u64)).is_err() {
                    out.flush().expect("send requests");
                    if tx.send((scheduled, frame.len() as u64)).is_err() {
                        break;
                    }
                }
                out.write_all(&frame).expect("send a request");
                if interval.is_some() {
                    out.flush().expect("send requests");
                }
                i += 1;
            }
            out.flush().expect("send requests");
        });
        let reader = std::thread::spawn(move || {
            let mut input = BufReader::with_capacity(256 << 10, read_half);
            let mut body = Vec::new();
            let mut s = RunStats::default();
            while let Ok((scheduled, len)) = rx.recv() {
                if !read_frame(&mut input, &mut body).expect("read an answer") {
                    panic!("the broker closed the connection");
                }
                let now = Instant::now();
                if decode {
                    let code = wire::produce_error(&body);
                    if code != 0 {
                        if s.errors == 0 {
                            s.first_error = code;
                        }
                        s.errors += 1;
                    }
                }
                s.requests += 1;
                s.bytes += len;
                s.records += records_per_request;
                s.latencies_us
                    .push(now.saturating_duration_since(scheduled).as_micros() as u32);
                s.elapsed = now.saturating_duration_since(start);
            }
            s
        });
        handles.push((writer, reader));
    }
    let mut total = RunStats::default();
    for (w, r) in handles {
        w.join().expect("a writer thread");
        total.merge(r.join().expect("a reader thread"));
    }
    if matches!(pace, Pace::Peak) {
        total.latencies_us.clear();
    }
    total
}

/// The loopback ceiling: a TCP server that reads each request frame and discards it, and
/// answers each with a frame of `reply_bytes` zero bytes, written in one go for every
/// request read in the same `read`. Serves until dropped. With `write_to`, each connection
/// also appends the request bytes to a file of its own there (no fsync): the least a
/// broker does, loopback plus a page-cache write.
#[derive(Debug)]
pub struct Sink {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Bytes of requests received.
    pub received: Arc<AtomicU64>,
}

impl Sink {
    pub fn start(reply_bytes: usize, write_to: Option<&Path>) -> Self {
        let write_to = write_to.map(Path::to_path_buf);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
        let addr = listener.local_addr().expect("the sink's address");
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let (stop2, received2) = (Arc::clone(&stop), Arc::clone(&received));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let received = Arc::clone(&received2);
                let mut file = write_to.as_ref().map(|dir| {
                    crate::create_file(&dir.join(format!("sink-{}", stream.as_raw_fd())))
                });
                std::thread::spawn(move || {
                    let _ = stream.set_nodelay(true);
                    let mut reply = vec![0u8; 4 + reply_bytes];
                    reply[..4].copy_from_slice(&(reply_bytes as i32).to_be_bytes());
                    let mut out = BufWriter::with_capacity(256 << 10, stream.try_clone().unwrap());
                    let mut input = BufReader::with_capacity(256 << 10, stream);
                    let mut size = [0u8; 4];
                    let mut discard = vec![0u8; 256 << 10];
                    loop {
                        if input.read_exact(&mut size).is_err() {
                            break;
                        }
                        let mut n = i32::from_be_bytes(size).max(0) as usize;
                        received.fetch_add(n as u64 + 4, Ordering::Relaxed);
                        while n > 0 {
                            let chunk = n.min(discard.len());
                            if input.read_exact(&mut discard[..chunk]).is_err() {
                                return;
                            }
                            if let Some(f) = file.as_mut() {
                                f.write_all(&discard[..chunk]).expect("sink file write");
                            }
                            n -= chunk;
                        }
                        if out.write_all(&reply).is_err() {
                            break;
                        }
                        if input.buffer().is_empty() && out.flush().is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            stop,
            received,
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// The shortest run of the fetch ceiling.
const RAW_MIN: Duration = Duration::from_millis(1000);

/// Fetch load: `conns` connections, `depth` fetches in flight on each (answers come in
/// order), until every partition is read up to `ends`. The log is cut into readers (a
/// partition, or an offset range of one when there are fewer partitions than
/// `conns x depth` fetches in flight), dealt round-robin to the connections; a fetch asks
/// for one reader's partition from its position, and the reader's next fetch goes out as
/// soon as its answer is in (the next offset from the answer's batch headers), so a
/// connection never waits for an answer with nothing else asked. A reader starting inside
/// a batch gets that batch whole, and one near its range's end reads past it into the
/// next reader's range: every byte the broker sent counts, repeated or not. Against the
/// sink (`raw`), each connection keeps the same `depth` requests of the same shape in
/// flight and only reads the answers, at least `n` each and for at least a second.
pub fn fetch_load(
    addr: SocketAddr,
    topic: &str,
    ends: &[i64],
    conns: usize,
    depth: usize,
    partition_max_bytes: i32,
    raw: Option<u64>,
) -> RunStats {
    let start = Instant::now();
    let depth = depth.max(1);
    // (partition, from, to) readers: at least `conns x depth` when the log allows.
    let splits = (conns * depth).div_ceil(ends.len().max(1)).max(1) as i64;
    let mut readers: Vec<(i32, i64, i64)> = Vec::new();
    for k in 0..splits {
        for (p, &end) in ends.iter().enumerate() {
            let (from, to) = (end * k / splits, end * (k + 1) / splits);
            if from < to || (k == 0 && raw.is_some()) {
                readers.push((p as i32, from, to));
            }
        }
    }
    let mut handles = Vec::new();
    for c in 0..conns.min(readers.len()) {
        let mine: Vec<(i32, i64, i64)> = readers.iter().skip(c).step_by(conns).copied().collect();
        let topic = topic.to_string();
        handles.push(std::thread::spawn(move || {
            let stream = TcpStream::connect(addr).expect("connect the fetch generator");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            let mut out = stream.try_clone().expect("clone the socket");
            // Smaller than an answer: answers are read past it, straight into `body`.
            let mut input = BufReader::with_capacity(64 << 10, stream);
            let mut body = Vec::new();
            let mut s = RunStats::default();
            let mut rounds = 0u64;
            // Positions of this connection's readers, and the readers whose fetch is out,
            // in the order their answers come.
            let mut pos: Vec<i64> = mine.iter().map(|r| r.1).collect();
            let mut in_flight: std::collections::VecDeque<usize> = Default::default();
            let mut next_reader = 0usize;
            let send = |out: &mut TcpStream, r: usize, at: i64| {
                let frame = wire::fetch_frame(&topic, &[(mine[r].0, at)], partition_max_bytes, 500);
                out.write_all(&frame).expect("send a fetch");
            };
            loop {
                // Fill the window.
                while in_flight.len() < depth {
                    let pick = match raw {
                        Some(n) => {
                            if rounds + in_flight.len() as u64 >= n && start.elapsed() >= RAW_MIN {
                                None
                            } else {
                                let r = next_reader % mine.len();
                                next_reader += 1;
                                Some(r)
                            }
                        }
                        None => (0..mine.len())
                            .map(|i| (next_reader + i) % mine.len())
                            .find(|&r| pos[r] < mine[r].2 && !in_flight.contains(&r)),
                    };
                    let Some(r) = pick else { break };
                    next_reader = r + 1;
                    send(&mut out, r, pos[r]);
                    in_flight.push_back(r);
                }
                let Some(r) = in_flight.pop_front() else {
                    break;
                };
                if !read_frame(&mut input, &mut body).expect("read a fetch answer") {
                    panic!("the broker closed the connection");
                }
                rounds += 1;
                s.requests += 1;
                s.bytes += body.len() as u64 + 4;
                if raw.is_some() {
                    // The same client work as a broker answer's, but the decoding: the
                    // decoder takes the buffer, so the next read allocates a fresh one.
                    drop(std::mem::take(&mut body));
                    continue;
                }
                let parts = wire::fetch_partitions(std::mem::take(&mut body))
                    .unwrap_or_else(|e| panic!("{e}"));
                for (_, code, records) in parts {
                    if code != 0 {
                        if s.errors == 0 {
                            s.first_error = code;
                        }
                        s.errors += 1;
                        // Give the reader up rather than ask again forever.
                        pos[r] = mine[r].2;
                        continue;
                    }
                    let (next, n) = wire::walk_batches(&records);
                    match next {
                        Some(next) if next > pos[r] => pos[r] = next,
                        _ => pos[r] = mine[r].2,
                    }
                    s.records += n;
                }
            }
            s.elapsed = start.elapsed();
            s
        }));
    }
    let mut total = RunStats::default();
    for h in handles {
        total.merge(h.join().expect("a fetch thread"));
    }
    total
}

/// A consumer for end-to-end latency: fetches every partition of `topic` from `from`
/// (long polls over one connection) until `stop`, and records, for every record whose
/// value carries a stamp, the time from that stamp (its scheduled send) to its arrival.
pub fn e2e_consumer(
    addr: SocketAddr,
    topic: String,
    from: Vec<i64>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<u32>> {
    std::thread::spawn(move || {
        let stream = TcpStream::connect(addr).expect("connect the consumer");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let mut out = stream.try_clone().expect("clone the socket");
        let mut input = BufReader::with_capacity(1 << 20, stream);
        let mut positions: Vec<(i32, i64)> = from
            .iter()
            .enumerate()
            .map(|(p, o)| (p as i32, *o))
            .collect();
        let mut body = Vec::new();
        let mut lat = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let frame = wire::fetch_frame(&topic, &positions, 1 << 20, 100);
            out.write_all(&frame).expect("send a fetch");
            if !read_frame(&mut input, &mut body).expect("read a fetch answer") {
                break;
            }
            let now = Instant::now();
            let parts =
                wire::fetch_partitions(std::mem::take(&mut body)).unwrap_or_else(|e| panic!("{e}"));
            for (p, code, records) in parts {
                if code != 0 || records.is_empty() {
                    continue;
                }
                let Some(pos) = positions.iter_mut().find(|(q, _)| *q == p) else {
                    continue;
                };
                let next = wire::each_stamp(&records, |stamp| {
                    let sent = wire::instant_of(stamp);
                    lat.push(now.saturating_duration_since(sent).as_micros() as u32);
                });
                if let Some(next) = next {
                    pos.1 = next;
                }
            }
        }
        lat
    })
}

/// fdatasync latency of the disk under `dir`: `count` times, append 4 KiB to a file and
/// fdatasync it. Returns the latencies in microseconds.
pub fn fdatasync_latencies(dir: &Path, count: usize) -> Vec<u32> {
    let path = dir.join("fdatasync-probe");
    let mut f = crate::create_file(&path);
    let block = vec![0x5au8; 4096];
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        f.write_all(&block).expect("probe write");
        let t = Instant::now();
        f.sync_data().expect("probe fdatasync");
        out.push(t.elapsed().as_micros() as u32);
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    out
}

/// Raw sequential write bandwidth with fdatasync every `chunk` bytes, for `duration`, in
/// MiB/s.
pub fn fsync_write_mib_per_s(dir: &Path, chunk: usize, duration: Duration) -> f64 {
    let path = dir.join("fsync-write-ceiling");
    let buf = crate::pattern(chunk, 11);
    let (bytes, took) = crate::raw_write_sync(&path, &buf, duration);
    let _ = std::fs::remove_file(&path);
    crate::mib_per_s(bytes, took)
}

/// The latency run's schedule played into the disk with no broker: request `j` is due at
/// `j / rate` seconds and carries one batch of `batch_bytes` for each partition of
/// `requests[j % requests.len()]`. Each partition is a file, served by one thread (or
/// one thread serves several files beyond `MAX_THREADS`) that appends every batch already
/// due and then fdatasyncs each file it wrote: group commit per file, as a broker can do
/// at best with this disk. A request is done when the last of its batches is durable and,
/// as the protocol answers a connection's requests in order, not before the request sent
/// before it on its connection (request `j` goes on connection `j % conns`, as the
/// generator sends them). Returns each request's latency from its due time, in
/// microseconds: free of coordinated omission like the broker's own figure.
pub fn disk_schedule_latencies(
    dir: &Path,
    requests: &[Vec<i32>],
    batch_bytes: usize,
    rate: f64,
    duration: Duration,
    conns: usize,
) -> Vec<u32> {
    const MAX_THREADS: usize = 32;
    let partitions = requests.iter().flatten().map(|&p| p as usize + 1).max();
    let Some(partitions) = partitions.filter(|_| rate > 0.0) else {
        return Vec::new();
    };
    let count = ((duration.as_secs_f64() * rate) as usize).max(1);
    let threads = partitions.min(MAX_THREADS);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let done: Arc<Vec<AtomicU64>> = Arc::new((0..count).map(|_| AtomicU64::new(0)).collect());
    let batch = Arc::new(crate::pattern(batch_bytes.max(1), 13));
    let start = Instant::now() + Duration::from_millis(20);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let mut files: Vec<std::fs::File> = (t..partitions)
                .step_by(threads)
                .map(|p| crate::create_file(&dir.join(format!("disk-schedule-{p}"))))
                .collect();
            // This thread's batches in due order: (request, file index).
            let work: Vec<(usize, usize)> = (0..count)
                .flat_map(|j| {
                    requests[j % requests.len()]
                        .iter()
                        .map(|&p| p as usize)
                        .filter(|p| p % threads == t)
                        .map(move |p| (j, p / threads))
                })
                .collect();
            let (done, batch) = (done.clone(), batch.clone());
            std::thread::spawn(move || {
                let due = |j: usize| start + interval.mul_f64(j as f64);
                let mut next = 0;
                let mut written = vec![false; files.len()];
                while next < work.len() {
                    let now = Instant::now();
                    let first_due = due(work[next].0);
                    if first_due > now {
                        std::thread::sleep(first_due - now);
                    }
                    let now = Instant::now();
                    let end = work[next..]
                        .iter()
                        .position(|&(j, _)| due(j) > now)
                        .map_or(work.len(), |k| next + k);
                    for &(_, f) in &work[next..end] {
                        files[f].write_all(&batch).expect("disk schedule write");
                        written[f] = true;
                    }
                    for (f, w) in files.iter().zip(written.iter_mut()) {
                        if std::mem::take(w) {
                            f.sync_data().expect("disk schedule fdatasync");
                        }
                    }
                    let at = start.elapsed().as_nanos() as u64 + 1;
                    for &(j, _) in &work[next..end] {
                        done[j].fetch_max(at, Ordering::Relaxed);
                    }
                    next = end;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a disk schedule thread");
    }
    for p in 0..partitions {
        let _ = std::fs::remove_file(dir.join(format!("disk-schedule-{p}")));
    }
    let mut ends: Vec<u64> = done.iter().map(|e| e.load(Ordering::Relaxed)).collect();
    let conns = conns.max(1);
    for j in conns..ends.len() {
        ends[j] = ends[j].max(ends[j - conns]);
    }
    ends.iter()
        .enumerate()
        .filter(|(_, &end)| end > 0)
        .map(|(j, &end)| {
            let due = interval.mul_f64(j as f64).as_nanos() as u64;
            (end.saturating_sub(due) / 1_000).min(u32::MAX as u64) as u32
        })
        .collect()
}
