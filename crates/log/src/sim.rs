//! A simulated disk for crash tests: an in-memory [`Fs`] that loses, at a power loss,
//! everything the log did not make durable.
//!
//! The model, the conservative reading of POSIX that the log's durability rests on:
//! - a file has *volatile* content (what reads see) and *durable* content (as of its last
//!   `sync_data`); `write_all_at` and `set_len` change only the volatile content;
//! - a directory has volatile and durable entry sets (name → inode); creating, renaming or
//!   removing an entry is volatile until `sync_dir` of that directory. A file created and
//!   synced whose directory entry was never synced is lost at a crash, as is a directory
//!   whose parent was never synced after it was created;
//! - a [`MappedFile`] is a private buffer: `flush` writes it to the file and makes the
//!   file durable (msync); dropping the map writes it back to the volatile content only
//!   (the page cache keeps unflushed pages until a crash).
//!
//! [`SimFs::crash`] is the power loss: it returns a new disk holding only durable content
//! and durable entries, and freezes this one (every later mutating call fails, as if the
//! process had died with the machine). In *torn* mode ([`SimFs::torn`]) a crash also keeps
//! a random part of what was not synced, as real disks do: for each file a random prefix of
//! its unsynced writes (and sometimes a tail of zeros, a size that reached the disk before
//! its data), and for each directory a random prefix of its unsynced entry operations, in
//! order (a rename within a directory stays atomic).
//!
//! Fault injection: [`SimFs::inject`] makes writes fail with ENOSPC (a failed write keeps
//! the first half of its bytes, as a short write would), syncs fail with EIO, or every
//! mutating call fail; [`SimFs::crash_after_ops`] loses power after a given number of
//! mutating calls, so that a test can crash in the middle of any sequence (a roll, a clean
//! shutdown, a partition deletion, recovery itself).
//!
//! Every file handle and map of the simulation refers to an inode, like a descriptor: it
//! keeps working after its file is renamed or removed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::io::{Fs, FsFile, MappedFile, OpenMode};

type Ino = u64;
/// The root directory: always there, always durable.
const ROOT: Ino = 0;

/// What kind of failure [`SimFs::inject`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `write_all_at`, a growing `set_len` and `map` fail with ENOSPC (a failing write
    /// still writes the first half of its buffer); shrinking a file still works, as on a
    /// full disk.
    Writes,
    /// `sync_data`, `sync_dir` and a map's `flush` fail with EIO, changing nothing durable.
    Syncs,
    /// Every mutating call fails with EIO: writes, syncs, creations, renames, removals.
    All,
}

/// The classes of mutating call, for fault matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpClass {
    Write,
    /// A `set_len` that shrinks a file: it frees space, so a full disk does not fail it.
    Shrink,
    Sync,
    Meta,
}

impl Fault {
    fn covers(self, class: OpClass) -> bool {
        matches!(
            (self, class),
            (Fault::All, _) | (Fault::Writes, OpClass::Write) | (Fault::Syncs, OpClass::Sync)
        )
    }
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOSPC)
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("simulated I/O error: {what}"))
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

/// A tiny deterministic generator (splitmix64): the simulation draws its torn crashes
/// from it, so a seed reproduces a run.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, n)`; 0 when `n` is 0.
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    /// Uniform in `[lo, hi]`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }
}

#[derive(Clone, Default)]
struct FileNode {
    /// What reads see.
    data: Vec<u8>,
    /// What survives a crash: the content as of the last sync.
    durable: Vec<u8>,
}

/// An entry operation not yet made durable by `sync_dir`, kept for torn crashes.
#[derive(Debug, Clone)]
enum DirOp {
    Insert(String, Ino),
    Remove(String),
    /// Within one directory: atomic, as rename(2) is.
    Rename {
        from: String,
        to: String,
    },
}

#[derive(Clone, Default)]
struct DirNode {
    entries: BTreeMap<String, Ino>,
    durable: BTreeMap<String, Ino>,
    /// The operations between `durable` and `entries`, in order.
    pending: Vec<DirOp>,
}

impl DirNode {
    fn insert(&mut self, name: &str, ino: Ino) {
        self.entries.insert(name.to_string(), ino);
        self.pending.push(DirOp::Insert(name.to_string(), ino));
    }
    fn remove(&mut self, name: &str) -> Option<Ino> {
        let ino = self.entries.remove(name)?;
        self.pending.push(DirOp::Remove(name.to_string()));
        Some(ino)
    }
}

fn apply(entries: &mut BTreeMap<String, Ino>, op: &DirOp) {
    match op {
        DirOp::Insert(name, ino) => {
            entries.insert(name.clone(), *ino);
        }
        DirOp::Remove(name) => {
            entries.remove(name);
        }
        DirOp::Rename { from, to } => {
            if let Some(ino) = entries.remove(from) {
                entries.insert(to.clone(), ino);
            }
        }
    }
}

#[derive(Clone)]
enum Node {
    File(FileNode),
    Dir(DirNode),
}

#[derive(Clone)]
struct State {
    /// Every inode, including files removed while a handle may still use them; a crash
    /// keeps only what the durable tree reaches.
    nodes: HashMap<Ino, Node>,
    next_ino: Ino,
    /// Mutating calls so far (including failed ones).
    ops: u64,
    /// The power was lost: every later mutating call fails.
    dead: bool,
    /// The state the power loss left, once it happened.
    crashed: Option<Box<State>>,
    /// Lose power when `ops` reaches this.
    crash_at: Option<u64>,
    /// The fault in force, and one armed to start when `ops` reaches a count.
    fault: Option<Fault>,
    fault_at: Option<(u64, Fault)>,
    /// Some in torn mode.
    torn: Option<Rng>,
}

impl State {
    fn new(torn: Option<u64>) -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(ROOT, Node::Dir(DirNode::default()));
        Self {
            nodes,
            next_ino: ROOT + 1,
            ops: 0,
            dead: false,
            crashed: None,
            crash_at: None,
            fault: None,
            fault_at: None,
            torn: torn.map(Rng),
        }
    }

    /// Admits one mutating call of `class`: fails it if the power is lost (or is lost
    /// now) or an injected fault covers it.
    fn begin(&mut self, class: OpClass) -> io::Result<()> {
        if !self.dead && self.crash_at.is_some_and(|at| self.ops >= at) {
            self.power_loss();
        }
        if self.dead {
            return Err(eio("the power is off"));
        }
        if let Some((at, fault)) = self.fault_at {
            if self.ops >= at {
                self.fault = Some(fault);
                self.fault_at = None;
            }
        }
        self.ops += 1;
        match self.fault {
            Some(f) if f.covers(class) => Err(match class {
                OpClass::Write => enospc(),
                OpClass::Shrink => eio("truncate failed"),
                OpClass::Sync => eio("sync failed"),
                OpClass::Meta => eio("metadata update failed"),
            }),
            _ => Ok(()),
        }
    }

    /// Loses power: records what survives and freezes this state.
    fn power_loss(&mut self) {
        if self.dead {
            return;
        }
        let survivor = self.survivor();
        self.crashed = Some(Box::new(survivor));
        self.dead = true;
    }

    /// The disk after a power loss now.
    fn survivor(&mut self) -> State {
        let mut rng = self.torn.take();
        let mut nodes = HashMap::new();
        let mut stack = vec![ROOT];
        while let Some(ino) = stack.pop() {
            if nodes.contains_key(&ino) {
                continue;
            }
            let Some(node) = self.nodes.get(&ino) else {
                continue;
            };
            let kept = match node {
                Node::File(f) => {
                    let data = match rng.as_mut() {
                        Some(r) => torn_content(f, r),
                        None => f.durable.clone(),
                    };
                    Node::File(FileNode {
                        durable: data.clone(),
                        data,
                    })
                }
                Node::Dir(d) => {
                    let mut entries = d.durable.clone();
                    if let Some(r) = rng.as_mut() {
                        let k = r.below(d.pending.len() as u64 + 1) as usize;
                        for op in &d.pending[..k] {
                            apply(&mut entries, op);
                        }
                    }
                    stack.extend(entries.values().copied());
                    Node::Dir(DirNode {
                        durable: entries.clone(),
                        entries,
                        pending: Vec::new(),
                    })
                }
            };
            nodes.insert(ino, kept);
        }
        // The survivor draws its own next crash from where this one left off.
        let next_rng = rng.as_mut().map(|r| Rng(r.next()));
        self.torn = rng;
        State {
            nodes,
            next_ino: self.next_ino,
            ops: 0,
            dead: false,
            crashed: None,
            crash_at: None,
            fault: None,
            fault_at: None,
            torn: next_rng,
        }
    }

    fn file(&self, ino: Ino) -> io::Result<&FileNode> {
        match self.nodes.get(&ino) {
            Some(Node::File(f)) => Ok(f),
            _ => Err(eio("stale file handle")),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> io::Result<&mut FileNode> {
        match self.nodes.get_mut(&ino) {
            Some(Node::File(f)) => Ok(f),
            _ => Err(eio("stale file handle")),
        }
    }

    fn dir(&self, ino: Ino) -> Option<&DirNode> {
        match self.nodes.get(&ino) {
            Some(Node::Dir(d)) => Some(d),
            _ => None,
        }
    }

    fn dir_mut(&mut self, ino: Ino) -> Option<&mut DirNode> {
        match self.nodes.get_mut(&ino) {
            Some(Node::Dir(d)) => Some(d),
            _ => None,
        }
    }

    fn alloc(&mut self, node: Node) -> Ino {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, node);
        ino
    }

    /// The inode at `path`, through volatile entries.
    fn lookup(&self, path: &Path) -> io::Result<Ino> {
        let mut ino = ROOT;
        for name in components(path)? {
            let dir = self.dir(ino).ok_or_else(|| not_a_dir(path))?;
            ino = *dir.entries.get(&name).ok_or_else(|| not_found(path))?;
        }
        Ok(ino)
    }

    /// The directory that holds `path`, and `path`'s name in it.
    fn lookup_parent(&self, path: &Path) -> io::Result<(Ino, String)> {
        let mut names = components(path)?;
        let name = names
            .pop()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the root has no parent"))?;
        let mut ino = ROOT;
        for n in names {
            let dir = self.dir(ino).ok_or_else(|| not_a_dir(path))?;
            ino = *dir.entries.get(&n).ok_or_else(|| not_found(path))?;
        }
        if self.dir(ino).is_none() {
            return Err(not_a_dir(path));
        }
        Ok((ino, name))
    }

    /// The file at `path`, created (empty) if missing when `create`.
    fn open_file(&mut self, path: &Path, create: bool) -> io::Result<Ino> {
        let (parent, name) = self.lookup_parent(path)?;
        let existing = self.dir(parent).and_then(|d| d.entries.get(&name).copied());
        match existing {
            Some(ino) => match self.nodes.get(&ino) {
                Some(Node::File(_)) => Ok(ino),
                _ => Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    format!("{}: is a directory", path.display()),
                )),
            },
            None if !create => Err(not_found(path)),
            None => {
                self.begin(OpClass::Meta)?;
                let ino = self.alloc(Node::File(FileNode::default()));
                if let Some(d) = self.dir_mut(parent) {
                    d.insert(&name, ino);
                }
                Ok(ino)
            }
        }
    }

    /// Is `ancestor` `ino` or one of the directories above it?
    fn is_within(&self, ino: Ino, ancestor: Ino) -> bool {
        if ino == ancestor {
            return true;
        }
        // Directories form a tree through volatile entries; search below `ancestor`.
        let mut stack = vec![ancestor];
        while let Some(d) = stack.pop() {
            if let Some(dir) = self.dir(d) {
                for child in dir.entries.values() {
                    if *child == ino {
                        return true;
                    }
                    stack.push(*child);
                }
            }
        }
        false
    }
}

fn not_a_dir(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotADirectory,
        format!("{}: not a directory", path.display()),
    )
}

/// The names along `path` from the root (relative paths start at the root too).
fn components(path: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(
                s.to_str()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "non-UTF-8 path"))?
                    .to_string(),
            ),
        }
    }
    Ok(out)
}

/// What a torn crash keeps of a file: a random prefix of the unsynced writes over the
/// durable content, at a length between the durable and the volatile one, zero-filled
/// where the length reached the disk but the data did not.
fn torn_content(f: &FileNode, rng: &mut Rng) -> Vec<u8> {
    let (v, d) = (&f.data, &f.durable);
    if v == d {
        return d.clone();
    }
    let common = v.iter().zip(d.iter()).take_while(|(a, b)| a == b).count() as u64;
    let (lv, ld) = (v.len() as u64, d.len() as u64);
    let len = match rng.below(3) {
        0 => ld,
        1 => lv,
        _ => rng.between(lv.min(ld), lv.max(ld)),
    };
    let upto = rng.between(common, len.min(lv).max(common)).min(lv);
    let (len, upto, ld) = (len as usize, upto as usize, ld as usize);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&v[..upto.min(len)]);
    if ld > out.len() {
        out.extend_from_slice(&d[out.len()..ld.min(len)]);
    }
    out.resize(len, 0);
    out
}

/// The simulated disk. Cloning gives another handle on the same disk.
#[derive(Clone)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for SimFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.lock();
        f.debug_struct("SimFs")
            .field("inodes", &s.nodes.len())
            .field("ops", &s.ops)
            .field("dead", &s.dead)
            .field("torn", &s.torn.is_some())
            .finish()
    }
}

impl Default for SimFs {
    fn default() -> Self {
        Self::new()
    }
}

impl SimFs {
    /// An empty disk whose crashes keep exactly what was synced.
    pub fn new() -> Self {
        Self::from_state(State::new(None))
    }

    /// An empty disk whose crashes also keep a random part of what was not synced, drawn
    /// from `seed`.
    pub fn torn(seed: u64) -> Self {
        Self::from_state(State::new(Some(seed)))
    }

    fn from_state(state: State) -> Self {
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Loses power now (or returns the disk a power loss armed by
    /// [`SimFs::crash_after_ops`] already left): the returned disk holds what survived,
    /// and this one is frozen, every later mutating call failing with EIO.
    pub fn crash(&self) -> SimFs {
        let mut s = self.state.lock();
        s.power_loss();
        let survivor = s
            .crashed
            .as_deref()
            .cloned()
            .unwrap_or_else(|| State::new(None));
        Self::from_state(survivor)
    }

    /// Loses power once `n` more mutating calls have been made: the next call fails, and
    /// so does every later one; [`SimFs::crash`] then returns what survived.
    pub fn crash_after_ops(&self, n: u64) {
        let mut s = self.state.lock();
        s.crash_at = Some(s.ops.saturating_add(n));
    }

    /// Disarms a power loss armed by [`SimFs::crash_after_ops`] that has not happened.
    pub fn cancel_crash(&self) {
        self.state.lock().crash_at = None;
    }

    /// Has the power been lost?
    pub fn is_crashed(&self) -> bool {
        self.state.lock().dead
    }

    /// Mutating calls made so far (creations, writes, syncs, renames, removals, maps).
    pub fn ops(&self) -> u64 {
        self.state.lock().ops
    }

    /// Makes the calls `fault` covers fail from now on (None: stop failing).
    pub fn inject(&self, fault: Option<Fault>) {
        let mut s = self.state.lock();
        s.fault = fault;
        s.fault_at = None;
    }

    /// Starts `fault` after `n` more mutating calls.
    pub fn inject_after_ops(&self, n: u64, fault: Fault) {
        let mut s = self.state.lock();
        s.fault_at = Some((s.ops.saturating_add(n), fault));
    }

    /// Makes writes fail with ENOSPC (`true`) or succeed again (`false`).
    pub fn fail_writes(&self, on: bool) {
        self.inject(on.then_some(Fault::Writes));
    }

    /// The volatile content of the file at `path` (what a read sees now).
    pub fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let s = self.state.lock();
        let ino = s.lookup(path)?;
        Ok(s.file(ino)?.data.clone())
    }

    /// The durable content of the file at `path` (what its inode keeps at a crash; whether
    /// the crash keeps the file at all depends on its directory entries).
    pub fn durable_content(&self, path: &Path) -> io::Result<Vec<u8>> {
        let s = self.state.lock();
        let ino = s.lookup(path)?;
        Ok(s.file(ino)?.durable.clone())
    }

    /// Creates `path` and its missing parents durably (every new entry synced): a test's
    /// way to set up a data directory that already exists.
    pub fn create_dir_durable(&self, path: &Path) -> io::Result<()> {
        self.create_dir_all(path)?;
        let mut at = PathBuf::from("/");
        self.sync_dir(&at)?;
        for name in components(path)? {
            at.push(name);
            self.sync_dir(&at)?;
        }
        Ok(())
    }

    /// Every file under `dir`, recursively, through volatile entries, sorted.
    pub fn files_under(&self, dir: &Path) -> Vec<PathBuf> {
        let s = self.state.lock();
        let mut out = Vec::new();
        let Ok(top) = s.lookup(dir) else {
            return out;
        };
        let mut stack = vec![(top, dir.to_path_buf())];
        while let Some((ino, path)) = stack.pop() {
            match s.nodes.get(&ino) {
                Some(Node::Dir(d)) => {
                    for (name, child) in &d.entries {
                        stack.push((*child, path.join(name)));
                    }
                }
                Some(Node::File(_)) => out.push(path),
                None => {}
            }
        }
        out.sort();
        out
    }
}

/// An open file of the simulation: a handle on an inode.
struct SimFile {
    state: Arc<Mutex<State>>,
    ino: Ino,
    writable: bool,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile").field("ino", &self.ino).finish()
    }
}

impl SimFile {
    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "file opened read-only",
            ))
        }
    }
}

impl FsFile for SimFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.state.lock().file(self.ino)?.data.len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let s = self.state.lock();
        let data = &s.file(self.ino)?.data;
        let Ok(pos) = usize::try_from(pos) else {
            return Ok(0);
        };
        if pos >= data.len() {
            return Ok(0);
        }
        let n = buf.len().min(data.len() - pos);
        buf[..n].copy_from_slice(&data[pos..pos + n]);
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.check_writable()?;
        let mut s = self.state.lock();
        s.file(self.ino)?;
        let pos = usize::try_from(pos)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "position too large"))?;
        let (result, written) = match s.begin(OpClass::Write) {
            Ok(()) => (Ok(()), buf.len()),
            // A failing write may still have written part of its buffer.
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => (Err(e), buf.len() / 2),
            Err(e) => return Err(e),
        };
        let data = &mut s.file_mut(self.ino)?.data;
        let end = pos + written;
        if data.len() < end {
            data.resize(end, 0);
        }
        data[pos..end].copy_from_slice(&buf[..written]);
        result
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        let mut s = self.state.lock();
        let old = s.file(self.ino)?.data.len();
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        s.begin(if len <= old {
            OpClass::Shrink
        } else {
            OpClass::Write
        })?;
        s.file_mut(self.ino)?.data.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut s = self.state.lock();
        s.file(self.ino)?;
        s.begin(OpClass::Sync)?;
        let f = s.file_mut(self.ino)?;
        f.durable.clone_from(&f.data);
        Ok(())
    }

    fn raw_fd(&self) -> Option<i32> {
        None
    }
}

/// A mapped index file: a private buffer over the file's first `len` bytes.
struct SimMap {
    state: Arc<Mutex<State>>,
    ino: Ino,
    buf: Vec<u8>,
}

impl fmt::Debug for SimMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimMap")
            .field("ino", &self.ino)
            .field("len", &self.buf.len())
            .finish()
    }
}

/// Copies a map's buffer into the file's volatile content (within the file's length).
fn write_back(s: &mut State, ino: Ino, buf: &[u8]) -> io::Result<()> {
    let data = &mut s.file_mut(ino)?.data;
    let n = buf.len().min(data.len());
    data[..n].copy_from_slice(&buf[..n]);
    Ok(())
}

impl MappedFile for SimMap {
    fn bytes(&self) -> &[u8] {
        &self.buf
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    fn flush(&self) -> io::Result<()> {
        let mut s = self.state.lock();
        s.file(self.ino)?;
        s.begin(OpClass::Sync)?;
        write_back(&mut s, self.ino, &self.buf)?;
        let f = s.file_mut(self.ino)?;
        f.durable.clone_from(&f.data);
        Ok(())
    }
}

impl Drop for SimMap {
    fn drop(&mut self) {
        let mut s = self.state.lock();
        // Unmapping keeps the pages in the page cache, unless the machine is already down.
        if !s.dead {
            let _ = write_back(&mut s, self.ino, &self.buf);
        }
    }
}

impl Fs for SimFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let mut s = self.state.lock();
        let writable = mode == OpenMode::ReadWriteCreate;
        let ino = s.open_file(path, writable)?;
        Ok(Arc::new(SimFile {
            state: self.state.clone(),
            ino,
            writable,
        }))
    }

    fn map(&self, path: &Path, len: u64) -> io::Result<Box<dyn MappedFile>> {
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        let mut s = self.state.lock();
        let ino = s.open_file(path, true)?;
        if s.file(ino)?.data.len() != len {
            s.begin(OpClass::Write)?;
            s.file_mut(ino)?.data.resize(len, 0);
        }
        let buf = s.file(ino)?.data.clone();
        Ok(Box::new(SimMap {
            state: self.state.clone(),
            ino,
            buf,
        }))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        let mut ino = ROOT;
        for name in components(path)? {
            let existing = s
                .dir(ino)
                .ok_or_else(|| not_a_dir(path))?
                .entries
                .get(&name)
                .copied();
            ino = match existing {
                Some(child) => child,
                None => {
                    s.begin(OpClass::Meta)?;
                    let child = s.alloc(Node::Dir(DirNode::default()));
                    if let Some(d) = s.dir_mut(ino) {
                        d.insert(&name, child);
                    }
                    child
                }
            };
        }
        if s.dir(ino).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: exists and is not a directory", path.display()),
            ));
        }
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.state.lock();
        let ino = s.lookup(dir)?;
        let d = s.dir(ino).ok_or_else(|| not_a_dir(dir))?;
        Ok(d.entries.keys().cloned().collect())
    }

    fn is_dir(&self, path: &Path) -> bool {
        let s = self.state.lock();
        s.lookup(path)
            .map(|ino| s.dir(ino).is_some())
            .unwrap_or(false)
    }

    fn exists(&self, path: &Path) -> bool {
        self.state.lock().lookup(path).is_ok()
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let s = self.state.lock();
        let ino = s.lookup(path)?;
        match s.nodes.get(&ino) {
            Some(Node::File(f)) => Ok(f.data.len() as u64),
            _ => Ok(0),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        let (src_dir, src_name) = s.lookup_parent(from)?;
        let ino = *s
            .dir(src_dir)
            .and_then(|d| d.entries.get(&src_name))
            .ok_or_else(|| not_found(from))?;
        let (dst_dir, dst_name) = s.lookup_parent(to)?;
        let src_is_dir = s.dir(ino).is_some();
        if let Some(target) = s
            .dir(dst_dir)
            .and_then(|d| d.entries.get(&dst_name))
            .copied()
        {
            if target == ino {
                return Ok(());
            }
            match (src_is_dir, s.dir(target)) {
                (false, Some(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::IsADirectory,
                        format!("{}: is a directory", to.display()),
                    ))
                }
                (true, None) => return Err(not_a_dir(to)),
                (true, Some(d)) if !d.entries.is_empty() => {
                    return Err(io::Error::new(
                        io::ErrorKind::DirectoryNotEmpty,
                        format!("{}: directory not empty", to.display()),
                    ))
                }
                _ => {}
            }
        }
        if src_is_dir && s.is_within(dst_dir, ino) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot move a directory into itself",
            ));
        }
        s.begin(OpClass::Meta)?;
        if src_dir == dst_dir {
            if let Some(d) = s.dir_mut(src_dir) {
                d.entries.remove(&src_name);
                d.entries.insert(dst_name.clone(), ino);
                d.pending.push(DirOp::Rename {
                    from: src_name,
                    to: dst_name,
                });
            }
        } else {
            if let Some(d) = s.dir_mut(src_dir) {
                d.remove(&src_name);
            }
            if let Some(d) = s.dir_mut(dst_dir) {
                d.insert(&dst_name, ino);
            }
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        let (parent, name) = s.lookup_parent(path)?;
        let ino = *s
            .dir(parent)
            .and_then(|d| d.entries.get(&name))
            .ok_or_else(|| not_found(path))?;
        if s.dir(ino).is_some() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{}: is a directory", path.display()),
            ));
        }
        s.begin(OpClass::Meta)?;
        if let Some(d) = s.dir_mut(parent) {
            d.remove(&name);
        }
        Ok(())
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        let (parent, name) = s.lookup_parent(path)?;
        let ino = *s
            .dir(parent)
            .and_then(|d| d.entries.get(&name))
            .ok_or_else(|| not_found(path))?;
        match s.dir(ino) {
            None => return Err(not_a_dir(path)),
            Some(d) if !d.entries.is_empty() => {
                return Err(io::Error::new(
                    io::ErrorKind::DirectoryNotEmpty,
                    format!("{}: directory not empty", path.display()),
                ))
            }
            Some(_) => {}
        }
        s.begin(OpClass::Meta)?;
        if let Some(d) = s.dir_mut(parent) {
            d.remove(&name);
        }
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        let ino = s.lookup(path)?;
        if s.dir(ino).is_none() {
            return Err(not_a_dir(path));
        }
        s.begin(OpClass::Sync)?;
        if let Some(d) = s.dir_mut(ino) {
            d.durable.clone_from(&d.entries);
            d.pending.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
