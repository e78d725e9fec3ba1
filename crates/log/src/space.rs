//! Free space of the data directory, and the reserve kept for the broker's own writes.
//!
//! A full disk fails appends with [`LogError::NoSpace`] and leaves the logs usable (see
//! `Segment::append`). But when client records fill the disk to the last byte, the group
//! coordinator can no longer commit offsets and the transaction coordinator can no
//! longer write its markers. So client appends stop earlier: while the file system has
//! less than the reserve (`log.dir.reserved.bytes`) available, [`DiskSpace::check_reserve`]
//! refuses them, and only the internal topics (`__consumer_offsets`,
//! `__transaction_state`) and the metadata log may write into the last bytes.
//!
//! `statvfs` is cheap but not free: its answer is cached for [`REFRESH`] and dropped
//! after an append meets a full disk or a segment is deleted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::LogError;

/// How long a `statvfs` answer is trusted.
pub const REFRESH: Duration = Duration::from_millis(100);

/// `log.dir.reserved.bytes`' default: 64 MiB, a few segments of the internal topics.
pub const DEFAULT_RESERVED_BYTES: u64 = 64 << 20;

/// The reserve is at most this fraction of the file system (1/20: 5%), so that a small
/// file system is not all reserve.
const MAX_RESERVE_DIVISOR: u64 = 20;

/// The file system's size and what is available to the broker, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceStat {
    pub total: u64,
    pub available: u64,
    /// Mounted (or remounted) read-only.
    pub read_only: bool,
}

/// Reads the file system holding `dir`.
pub fn stat(dir: &Path) -> std::io::Result<SpaceStat> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: statvfs is a plain C struct of integers, for which all zeros is valid.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a statvfs to fill.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = s.f_frsize as u64;
    Ok(SpaceStat {
        total: (s.f_blocks as u64).saturating_mul(frsize),
        available: (s.f_bavail as u64).saturating_mul(frsize),
        read_only: s.f_flag & libc::ST_RDONLY != 0,
    })
}

/// The data directory's free space, cached.
#[derive(Debug)]
pub struct DiskSpace {
    dir: PathBuf,
    reserved: u64,
    epoch: Instant,
    /// Nanoseconds since `epoch` when the cache goes stale (0: stale now).
    fresh_until: AtomicU64,
    available: AtomicU64,
    total: AtomicU64,
}

impl DiskSpace {
    pub fn new(dir: impl Into<PathBuf>, reserved: u64) -> Self {
        Self {
            dir: dir.into(),
            reserved,
            epoch: Instant::now(),
            fresh_until: AtomicU64::new(0),
            available: AtomicU64::new(u64::MAX),
            total: AtomicU64::new(u64::MAX),
        }
    }

    /// The configured reserve (`log.dir.reserved.bytes`).
    pub fn reserved_bytes(&self) -> u64 {
        self.reserved
    }

    /// The reserve in force: the configured one, at most 5% of the file system.
    pub fn effective_reserve(&self) -> u64 {
        self.refresh();
        self.reserved
            .min(self.total.load(Ordering::Relaxed) / MAX_RESERVE_DIVISOR)
    }

    /// Bytes available, as of at most [`REFRESH`] ago.
    pub fn available(&self) -> u64 {
        self.refresh();
        self.available.load(Ordering::Relaxed)
    }

    /// Forgets the cached answer (a full disk was met, or space was freed).
    pub fn invalidate(&self) {
        self.fresh_until.store(0, Ordering::Relaxed);
    }

    /// Fails with [`LogError::NoSpace`] when less than the reserve is available: a client
    /// append must not take the space the coordinators need.
    pub fn check_reserve(&self) -> Result<(), LogError> {
        if self.reserved == 0 {
            return Ok(());
        }
        let mut reserve = self.effective_reserve();
        let mut available = self.available.load(Ordering::Relaxed);
        if available < reserve.saturating_mul(4) {
            // Close to the reserve, the cached answer may be 100 ms old: appends can write
            // more than the reserve in that time. Ask again (a statvfs is a microsecond).
            self.invalidate();
            reserve = self.effective_reserve();
            available = self.available.load(Ordering::Relaxed);
        }
        if available < reserve {
            return Err(LogError::NoSpace {
                path: self.dir.clone(),
                source: std::io::Error::other(format!(
                    "{available} bytes available, below the reserve of {reserve} bytes \
                     (log.dir.reserved.bytes) kept for offset commits and transaction markers"
                )),
            });
        }
        Ok(())
    }

    fn refresh(&self) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        if now < self.fresh_until.load(Ordering::Relaxed) {
            return;
        }
        // Whoever comes first refreshes; a race only costs a second statvfs.
        self.fresh_until
            .store(now + REFRESH.as_nanos() as u64, Ordering::Relaxed);
        match stat(&self.dir) {
            Ok(s) => {
                self.available.store(s.available, Ordering::Relaxed);
                self.total.store(s.total, Ordering::Relaxed);
            }
            // A vanished or unreadable directory: appends will say so themselves.
            Err(_) => {
                self.available.store(u64::MAX, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_is_clamped_to_a_twentieth_of_the_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let total = stat(dir.path()).unwrap().total;
        let space = DiskSpace::new(dir.path(), u64::MAX);
        assert_eq!(space.effective_reserve(), total / 20);
        let space = DiskSpace::new(dir.path(), 1);
        assert_eq!(space.effective_reserve(), 1);
        assert!(space.check_reserve().is_ok() || space.available() < 1);
        assert!(DiskSpace::new(dir.path(), 0).check_reserve().is_ok());
    }
}
