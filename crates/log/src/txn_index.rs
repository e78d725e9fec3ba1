//! The aborted-transaction index of a segment, `<base>.txnindex`: Kafka's
//! `TransactionIndex`, byte for byte, so that Kafka's tools read it.
//!
//! Why it exists: a fetch serves raw batches, those of aborted transactions included. A
//! `read_committed` consumer drops the records of aborted transactions itself, and for that
//! the Fetch response names the aborted transactions overlapping the fetched range (producer
//! id and first offset): the consumer skips that producer's records from that offset until
//! it meets the producer's ABORT marker. This index answers the question without reading
//! the log: one entry per aborted transaction, kept with the segment that holds its ABORT
//! marker, so that it goes wherever the segment goes (retention, compaction, truncation).
//!
//! Entry, 34 bytes, big-endian ([`AbortedTxn::encode`]), mirrored in
//! `docs/on-disk-format.md`:
//!
//! | at | field | type | notes |
//! |---|---|---|---|
//! | 0 | version | int16 | 0 |
//! | 2 | producer_id | int64 | |
//! | 10 | first_offset | int64 | the transaction's first batch in this partition |
//! | 18 | last_offset | int64 | its ABORT marker |
//! | 26 | last_stable_offset | int64 | the last stable offset once the marker was written |
//!
//! Entries follow their markers: last offsets strictly increase. The last stable offset lets
//! a search stop early: once an entry's reaches the end of the range searched, no later
//! aborted transaction can overlap the range (while it was open, it would have held the last
//! stable offset at or below its own first offset).
//!
//! Only a transaction aborted *with data* in this partition gets an entry: an ABORT marker
//! alone changes nothing a consumer reads. As in Kafka, the file is created with its first
//! entry, and a missing file reads as empty: most segments have none, and segments written
//! before the index existed (or by Kafka) need no rebuild.
//!
//! In memory: every segment's entries are read at open (only files that exist are read,
//! and they exist only where transactions were aborted), validated and kept. Lookups never
//! touch the disk, so a `read_committed` fetch of a partition without aborts costs nothing.
//!
//! Durability: an entry is written when the log appends its ABORT marker and made durable
//! by the flush that makes the marker durable, right after the segment's data. A crash may
//! still keep an entry whose marker was lost, or a marker whose entry was lost (unsynced
//! writes to two files); so recovery rebuilds the index of every segment it scans (those
//! past the recovery point) from the log and the producer state, from where it began to
//! read batch headers: the entries of markers below that offset, below the recovery point,
//! were synced with them and are the file's ([`TxnIndex::read_prefix`]). So is the index
//! of any segment whose file fails validation, whole. A rebuild replaces the file atomically
//! (`<base>.txnindex.tmp`, fdatasync, rename), so that a crash during it leaves either the
//! old file, which fails validation again or lies past the recovery point, or the new one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::batch::{get_i16, get_i64, HEADER_LEN};
use crate::error::{LogError, Result};
use crate::files;
use crate::io::{Fs, FsFile, OpenMode};

/// Bytes of one entry.
pub const ENTRY_LEN: usize = 34;
/// The entry version written (Kafka's `AbortedTxn.CURRENT_VERSION`).
pub const VERSION: i16 = 0;

/// An aborted transaction, as one index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AbortedTxn {
    pub producer_id: i64,
    /// The offset of the transaction's first batch in this partition: a `read_committed`
    /// consumer skips the producer's records from here to the marker.
    pub first_offset: i64,
    /// The offset of the ABORT marker.
    pub last_offset: i64,
    /// The last stable offset right after the marker was written: the first offset of the
    /// earliest other open transaction, or `last_offset + 1` (Kafka's
    /// `ProducerStateManager.lastStableOffset(completedTxn)`; the high watermark plays no
    /// part).
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    /// The 34-byte entry.
    pub fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut e = [0u8; ENTRY_LEN];
        e[0..2].copy_from_slice(&VERSION.to_be_bytes());
        e[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        e[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        e[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        e[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        e
    }
}

/// A `.txnindex` that does not validate: recovery rebuilds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt transaction index: {0}")]
pub struct TxnIndexError(pub String);

/// Decodes and validates the entries of the index of the segment based at `base_offset`
/// whose batches end before `end_offset`: a whole number of entries, each of version 0,
/// with a producer id, `0 <= first_offset <= last_offset`, the marker within the segment,
/// a last stable offset in `[0, last_offset + 1]`, last offsets strictly increasing.
/// Never panics, whatever the bytes.
pub fn decode_index(
    bytes: &[u8],
    base_offset: i64,
    end_offset: i64,
) -> Result<Vec<AbortedTxn>, TxnIndexError> {
    let corrupt = |m: String| Err(TxnIndexError(m));
    if !bytes.len().is_multiple_of(ENTRY_LEN) {
        return corrupt(format!(
            "{} bytes are not a whole number of {ENTRY_LEN}-byte entries",
            bytes.len()
        ));
    }
    let mut out: Vec<AbortedTxn> = Vec::with_capacity(bytes.len() / ENTRY_LEN);
    for (i, e) in bytes.chunks_exact(ENTRY_LEN).enumerate() {
        let version = get_i16(e, 0);
        let txn = AbortedTxn {
            producer_id: get_i64(e, 2),
            first_offset: get_i64(e, 10),
            last_offset: get_i64(e, 18),
            last_stable_offset: get_i64(e, 26),
        };
        if version != VERSION {
            return corrupt(format!("entry {i} has version {version}"));
        }
        let valid = txn.producer_id >= 0
            && txn.first_offset >= 0
            && txn.first_offset <= txn.last_offset
            && txn.last_offset >= base_offset
            && txn.last_offset < end_offset
            && txn.last_stable_offset >= 0
            && txn.last_stable_offset <= txn.last_offset.saturating_add(1);
        if !valid {
            return corrupt(format!(
                "entry {i} {txn:?} does not fit a segment of offsets [{base_offset}, {end_offset})"
            ));
        }
        if let Some(prev) = out.last() {
            if txn.last_offset <= prev.last_offset {
                return corrupt(format!(
                    "entry {i} ends at {}, not after the previous one at {}",
                    txn.last_offset, prev.last_offset
                ));
            }
        }
        out.push(txn);
    }
    Ok(out)
}

/// Encodes `entries` end to end.
fn encode_all(entries: &[AbortedTxn]) -> Vec<u8> {
    entries.iter().flat_map(|e| e.encode()).collect()
}

#[derive(Debug)]
struct State {
    entries: Vec<AbortedTxn>,
    /// The file exists (it may hold garbage until a rebuild replaces it).
    exists: bool,
    /// The file holds exactly `entries` (a missing file holds none).
    matches_file: bool,
    /// Held open while some write is not yet synced.
    file: Option<Arc<dyn FsFile>>,
    /// Writes so far: a sync only closes the file if none happened meanwhile.
    writes: u64,
}

/// One segment's `.txnindex`, its entries kept in memory. The log's append lock serializes
/// the writers (append, truncation, rebuilds); readers take a short lock and never wait on
/// I/O, except behind a write of one 34-byte entry.
#[derive(Debug)]
pub(crate) struct TxnIndex {
    fs: Arc<dyn Fs>,
    path: PathBuf,
    base_offset: i64,
    state: Mutex<State>,
}

impl TxnIndex {
    /// The index of a segment without a `.txnindex` file (yet).
    pub fn new(fs: Arc<dyn Fs>, path: PathBuf, base_offset: i64) -> Self {
        Self {
            fs,
            path,
            base_offset,
            state: Mutex::new(State {
                entries: Vec::new(),
                exists: false,
                matches_file: true,
                file: None,
                writes: 0,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, e: std::io::Error) -> LogError {
        LogError::io(&self.path, e)
    }

    pub fn entries(&self) -> Vec<AbortedTxn> {
        self.state.lock().entries.clone()
    }

    /// Reads the file, if there is one, and validates it against the segment: markers below
    /// `end_offset`, at most one entry per batch header that `log_bytes` of log can hold
    /// (which also bounds what is read). `Ok(Err(_))` when it does not validate: the index
    /// then holds nothing, and the caller rebuilds it.
    pub fn load(&self, end_offset: i64, log_bytes: u64) -> Result<Result<(), TxnIndexError>> {
        let mut s = self.state.lock();
        s.entries.clear();
        s.file = None;
        let file = match self.fs.open(&self.path, OpenMode::Read) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                s.exists = false;
                s.matches_file = true;
                return Ok(Ok(()));
            }
            Err(e) => return Err(self.io(e)),
        };
        s.exists = true;
        s.matches_file = false;
        let len = file.len().map_err(|e| self.io(e))?;
        let max = (log_bytes / HEADER_LEN as u64).saturating_mul(ENTRY_LEN as u64);
        if len > max {
            return Ok(Err(TxnIndexError(format!(
                "{len} bytes: more entries than the {log_bytes} bytes of its log can have"
            ))));
        }
        let mut bytes = vec![0u8; len as usize];
        file.read_exact_at(&mut bytes, 0).map_err(|e| self.io(e))?;
        match decode_index(&bytes, self.base_offset, end_offset) {
            Ok(entries) => {
                s.entries = entries;
                s.matches_file = true;
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// The entries of the file whose markers lie below `below`, where recovery read no
    /// header of the log: those were synced with their markers, so the file's prefix holds
    /// them. Whatever follows (entries of markers from `below` on, or bytes of writes the
    /// crash tore) ends the prefix: a partial or invalid entry, one not after the one
    /// before, or one whose transaction has no data before its marker (as zeros read). A
    /// missing file has none. Changes nothing in memory.
    pub fn read_prefix(&self, below: i64, log_bytes: u64) -> Result<Vec<AbortedTxn>> {
        let file = match self.fs.open(&self.path, OpenMode::Read) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let len = file.len().map_err(|e| self.io(e))?;
        let max = (log_bytes / HEADER_LEN as u64).saturating_mul(ENTRY_LEN as u64);
        let whole = len.min(max) / ENTRY_LEN as u64 * ENTRY_LEN as u64;
        let mut bytes = vec![0u8; whole as usize];
        file.read_exact_at(&mut bytes, 0).map_err(|e| self.io(e))?;
        let mut out: Vec<AbortedTxn> = Vec::new();
        for e in bytes.chunks_exact(ENTRY_LEN) {
            let Ok(entry) = decode_index(e, self.base_offset, below) else {
                break;
            };
            let txn = entry[0];
            if txn.first_offset >= txn.last_offset
                || out.last().is_some_and(|p| txn.last_offset <= p.last_offset)
            {
                break;
            }
            out.push(txn);
        }
        Ok(out)
    }

    /// Takes `entries` for the content of the file, without reading it (a cleaned segment
    /// whose index the cleaner wrote and synced, and removed if it had no entries).
    pub fn assume(&self, entries: Vec<AbortedTxn>) {
        let mut s = self.state.lock();
        s.exists = !entries.is_empty();
        s.entries = entries;
        s.matches_file = true;
        s.file = None;
    }

    /// The file handle for writing, opened (and created) if needed.
    fn writable(&self, s: &mut State) -> Result<Arc<dyn FsFile>> {
        if let Some(f) = &s.file {
            return Ok(f.clone());
        }
        let f = self
            .fs
            .open(&self.path, OpenMode::ReadWriteCreate)
            .map_err(|e| self.io(e))?;
        s.file = Some(f.clone());
        Ok(f)
    }

    /// Writes every entry from the start and cuts the file after them.
    fn rewrite_in_place(&self, s: &mut State) -> Result<()> {
        let f = self.writable(s)?;
        let bytes = encode_all(&s.entries);
        f.write_all_at(&bytes, 0).map_err(|e| self.io(e))?;
        f.set_len(bytes.len() as u64).map_err(|e| self.io(e))?;
        s.matches_file = true;
        s.writes += 1;
        Ok(())
    }

    /// Appends the entry of a transaction whose ABORT marker the log just wrote to this
    /// segment. Its last offset must follow the last entry's. Returns true when this
    /// created the file: its directory entry needs a sync.
    pub fn append(&self, txn: AbortedTxn) -> Result<bool> {
        let mut s = self.state.lock();
        if let Some(last) = s.entries.last() {
            if txn.last_offset <= last.last_offset {
                let msg = format!(
                    "aborted transaction ending at {} appended after one ending at {}",
                    txn.last_offset, last.last_offset
                );
                return Err(self.io(std::io::Error::other(msg)));
            }
        }
        let created = !s.exists;
        let at = (s.entries.len() * ENTRY_LEN) as u64;
        s.entries.push(txn);
        s.exists = true;
        if !s.matches_file || created {
            // A new file (a stale one of the same name is cut), or one that must be
            // rewritten whole.
            self.rewrite_in_place(&mut s)?;
        } else {
            let f = self.writable(&mut s)?;
            f.write_all_at(&txn.encode(), at).map_err(|e| self.io(e))?;
            s.writes += 1;
        }
        Ok(created)
    }

    /// Drops the entries whose marker is at or after `offset` (the log is cut there).
    pub fn truncate_to(&self, offset: i64) -> Result<()> {
        let mut s = self.state.lock();
        let keep = s
            .entries
            .iter()
            .take_while(|e| e.last_offset < offset)
            .count();
        if keep == s.entries.len() && s.matches_file {
            return Ok(());
        }
        s.entries.truncate(keep);
        if !s.exists {
            return Ok(());
        }
        if s.matches_file {
            let f = self.writable(&mut s)?;
            f.set_len((keep * ENTRY_LEN) as u64)
                .map_err(|e| self.io(e))?;
            s.writes += 1;
            Ok(())
        } else {
            self.rewrite_in_place(&mut s)
        }
    }

    /// Replaces the index with `entries` (a rebuild), atomically: written to
    /// `<base>.txnindex.tmp`, synced, renamed over the file; the file is removed when there
    /// are none. Returns whether anything changed on disk; if so, the directory needs a
    /// sync before anything relies on it.
    pub fn replace(&self, entries: Vec<AbortedTxn>) -> Result<bool> {
        let mut s = self.state.lock();
        if s.matches_file && s.entries == entries {
            return Ok(false);
        }
        s.file = None;
        if entries.is_empty() {
            if s.exists {
                match self.fs.remove_file(&self.path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(self.io(e)),
                }
            }
        } else {
            let tmp = files::with_suffix(&self.path, files::TMP_SUFFIX);
            let io = |e| LogError::io(&tmp, e);
            let f = self.fs.open(&tmp, OpenMode::ReadWriteCreate).map_err(io)?;
            f.set_len(0).map_err(io)?;
            f.write_all_at(&encode_all(&entries), 0).map_err(io)?;
            f.sync_data().map_err(io)?;
            drop(f);
            self.fs.rename(&tmp, &self.path).map_err(io)?;
        }
        s.exists = !entries.is_empty();
        s.entries = entries;
        s.matches_file = true;
        s.writes += 1;
        Ok(true)
    }

    /// Makes the written entries durable (the flush, after the segment's data).
    pub fn sync(&self) -> Result<()> {
        // Not under the lock: a fetch looking up aborted transactions must not wait for an
        // fdatasync.
        let (file, writes) = {
            let s = self.state.lock();
            match &s.file {
                Some(f) => (f.clone(), s.writes),
                None => return Ok(()),
            }
        };
        file.sync_data().map_err(|e| self.io(e))?;
        let mut s = self.state.lock();
        if s.writes == writes {
            // Everything is durable: give the descriptor back.
            s.file = None;
        }
        Ok(())
    }

    /// Adds to `out` the entries overlapping `[start_offset, upper_bound_offset)`: marker at
    /// or after the start, first offset before the bound (Kafka's `collectAbortedTxns`).
    /// Returns true when the search is complete: an entry's last stable offset reached the
    /// bound, so no later segment holds an overlapping one.
    pub fn collect(
        &self,
        start_offset: i64,
        upper_bound_offset: i64,
        out: &mut Vec<AbortedTxn>,
    ) -> bool {
        let s = self.state.lock();
        for e in &s.entries {
            if e.last_offset >= start_offset && e.first_offset < upper_bound_offset {
                out.push(*e);
            }
            if e.last_stable_offset >= upper_bound_offset {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimFs;
    use proptest::prelude::*;

    fn txn(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    fn sim() -> (SimFs, PathBuf) {
        let fs = SimFs::new();
        fs.create_dir_durable(Path::new("/d")).unwrap();
        (fs, PathBuf::from("/d/00000000000000000100.txnindex"))
    }

    #[test]
    fn entries_have_kafkas_layout() {
        let e = txn(7, 100, 105, 106).encode();
        let mut want = vec![0u8, 0];
        for v in [7i64, 100, 105, 106] {
            want.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(e.to_vec(), want);
        assert_eq!(
            decode_index(&want, 100, 200).unwrap(),
            vec![txn(7, 100, 105, 106)]
        );
    }

    #[test]
    fn decode_refuses_what_cannot_be_an_index() {
        let good = [txn(1, 90, 100, 101), txn(2, 95, 110, 95)];
        let bytes = encode_all(&good);
        assert_eq!(decode_index(&bytes, 100, 111).unwrap(), good);
        assert!(
            decode_index(&bytes[..bytes.len() - 1], 100, 111).is_err(),
            "odd length"
        );
        assert!(
            decode_index(&bytes, 100, 110).is_err(),
            "marker past the segment"
        );
        assert!(
            decode_index(&bytes, 101, 111).is_err(),
            "marker before the segment"
        );
        let mut v = bytes.clone();
        v[1] = 1;
        assert!(decode_index(&v, 100, 111).is_err(), "version");
        let swapped = encode_all(&[good[1], good[0]]);
        assert!(decode_index(&swapped, 100, 111).is_err(), "order");
        for bad in [
            txn(-1, 90, 100, 101),
            txn(1, 101, 100, 101),
            txn(1, -5, 100, 101),
            txn(1, 90, 100, 102),
            txn(1, 90, 100, -1),
        ] {
            assert!(decode_index(&bad.encode(), 100, 111).is_err(), "{bad:?}");
        }
        assert_eq!(decode_index(&[], 100, 111).unwrap(), vec![]);
    }

    #[test]
    fn append_load_truncate_and_replace() {
        let (fs, path) = sim();
        let fs: Arc<dyn Fs> = Arc::new(fs);
        let idx = TxnIndex::new(fs.clone(), path.clone(), 100);
        assert!(!fs.exists(&path), "no file until the first entry");
        assert!(idx.append(txn(1, 90, 100, 101)).unwrap(), "created");
        assert!(!idx.append(txn(2, 95, 110, 95)).unwrap());
        assert!(
            idx.append(txn(3, 96, 110, 111)).is_err(),
            "not after the last"
        );
        idx.sync().unwrap();
        assert_eq!(fs.file_len(&path).unwrap(), 2 * ENTRY_LEN as u64);

        let mut out = Vec::new();
        assert!(
            !idx.collect(0, 102, &mut out),
            "no last stable offset reaches 102"
        );
        assert_eq!(out, idx.entries());
        out.clear();
        assert!(idx.collect(101, 96, &mut out), "the first one's reaches 96");
        assert!(out.is_empty(), "its marker is before the start");
        assert!(!idx.collect(105, 200, &mut out));
        assert_eq!(out, vec![txn(2, 95, 110, 95)]);
        out.clear();
        assert!(idx.collect(0, 90, &mut out), "complete at the first entry");
        assert!(out.is_empty());

        let again = TxnIndex::new(fs.clone(), path.clone(), 100);
        again.load(111, 1 << 20).unwrap().unwrap();
        assert_eq!(again.entries(), idx.entries());

        idx.truncate_to(110).unwrap();
        assert_eq!(idx.entries(), vec![txn(1, 90, 100, 101)]);
        assert_eq!(fs.file_len(&path).unwrap(), ENTRY_LEN as u64);
        idx.append(txn(4, 105, 107, 108)).unwrap();

        assert!(idx.replace(vec![txn(5, 1, 120, 121)]).unwrap());
        assert!(
            !idx.replace(vec![txn(5, 1, 120, 121)]).unwrap(),
            "unchanged"
        );
        let again = TxnIndex::new(fs.clone(), path.clone(), 100);
        again.load(200, 1 << 20).unwrap().unwrap();
        assert_eq!(again.entries(), vec![txn(5, 1, 120, 121)]);
        assert!(!fs.exists(&files::with_suffix(&path, files::TMP_SUFFIX)));
        assert!(idx.replace(Vec::new()).unwrap());
        assert!(!fs.exists(&path), "no entries, no file");
    }

    #[test]
    fn a_corrupt_or_oversized_file_loads_as_corrupt_and_empty() {
        let (fs, path) = sim();
        let shared: Arc<dyn Fs> = Arc::new(fs.clone());
        let idx = TxnIndex::new(shared.clone(), path.clone(), 100);
        assert!(
            idx.load(200, 1 << 20).unwrap().is_ok(),
            "missing reads as empty"
        );
        let write = |bytes: &[u8]| {
            let f = shared.open(&path, OpenMode::ReadWriteCreate).unwrap();
            f.set_len(0).unwrap();
            f.write_all_at(bytes, 0).unwrap();
        };
        let mut bytes = encode_all(&[txn(1, 90, 100, 101)]);
        bytes.push(0);
        write(&bytes);
        assert!(idx.load(200, 1 << 20).unwrap().is_err(), "odd length");
        assert!(idx.entries().is_empty());
        write(&encode_all(&[txn(1, 90, 100, 101), txn(2, 91, 101, 102)]));
        assert!(
            idx.load(200, 61).unwrap().is_err(),
            "more entries than batches"
        );
        assert!(idx.load(200, 122).unwrap().is_ok());
        // An append to a file that did not validate rewrites it whole.
        write(&[1u8; 50]);
        assert!(idx.load(200, 1 << 20).unwrap().is_err());
        idx.append(txn(3, 150, 150, 151)).unwrap();
        assert_eq!(
            fs.read_file(&path).unwrap(),
            encode_all(&[txn(3, 150, 150, 151)])
        );
    }

    #[test]
    fn entries_become_durable_with_sync() {
        let (fs, path) = sim();
        let shared: Arc<dyn Fs> = Arc::new(fs.clone());
        let idx = TxnIndex::new(shared, path.clone(), 100);
        idx.append(txn(1, 90, 100, 101)).unwrap();
        assert!(fs.durable_content(&path).unwrap().is_empty());
        idx.sync().unwrap();
        assert_eq!(
            fs.durable_content(&path).unwrap(),
            encode_all(&idx.entries())
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400),
                                        base in any::<i64>(), end in any::<i64>()) {
            let _ = decode_index(&data, base, end);
        }

        #[test]
        fn valid_indexes_round_trip(deltas in proptest::collection::vec((0i64..50, 1i64..50, 0i64..60, 0i64..1000), 0..20)) {
            let mut last = 1000i64;
            let mut entries = Vec::new();
            for (back, step, lso_back, pid) in deltas {
                last += step;
                let first = last - back;
                let lso = (last + 1 - lso_back).max(0);
                entries.push(txn(pid, first, last, lso));
            }
            let bytes = encode_all(&entries);
            prop_assert_eq!(decode_index(&bytes, 1000, i64::MAX).unwrap(), entries);
        }
    }
}
