//! The I/O seam: every write, sync, rename and directory sync of the log's files goes
//! through [`Fs`], so that a test can substitute a simulated disk that loses everything not
//! yet synced at a crash ([`crate::sim::SimFs`]).
//!
//! Contract of an implementation (what the log relies on, and what the simulation models):
//! - `write_at` data is visible to `read_at` at once, durable only after `sync_data`;
//! - a created, renamed or removed directory entry is durable only after `sync_dir` of its
//!   parent;
//! - `set_len` is a write: durable after `sync_data`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file of the log: positional reads and writes, no cursor.
#[allow(clippy::len_without_is_empty)] // a file's length is an I/O result, not a container's
pub trait FsFile: Send + Sync + fmt::Debug {
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Reads up to `buf.len()` bytes at `pos`; returns how many (0 at the end).
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `pos`, extending the file if needed.
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// Writes `parts` one after the other from `pos`, as one write of their concatenation
    /// would. The default writes them in turn; a real file gathers them in `pwritev` calls.
    fn write_all_vectored_at(&self, parts: &[&[u8]], mut pos: u64) -> io::Result<()> {
        for part in parts {
            self.write_all_at(part, pos)?;
            pos += part.len() as u64;
        }
        Ok(())
    }
    /// Truncates or extends (with zeros) to `len`.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the file's data (and its length) durable.
    fn sync_data(&self) -> io::Result<()>;
    /// Starts writing the dirty pages of `[pos, pos + len)` to the device, without waiting
    /// and without making anything durable (a write-behind: the next `sync_data` finds
    /// them written or in flight). Its errors are reported by that `sync_data` too. The
    /// default does nothing.
    fn start_write_back(&self, _pos: u64, _len: u64) -> io::Result<()> {
        Ok(())
    }
    /// The OS file descriptor, where there is one: the server uses it for `sendfile`.
    fn raw_fd(&self) -> Option<i32>;

    /// Reads exactly `buf.len()` bytes at `pos`, or fails with `UnexpectedEof`.
    fn read_exact_at(&self, mut buf: &mut [u8], mut pos: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, pos)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    pos += n as u64;
                }
            }
        }
        Ok(())
    }
}

/// A memory-mapped index file. Its content is the whole file; writes are made durable by
/// `flush`.
pub trait MappedFile: Send + Sync + fmt::Debug {
    fn bytes(&self) -> &[u8];
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Makes the mapped bytes durable.
    fn flush(&self) -> io::Result<()>;
    /// The mapped file, opened anew, whose `sync_data` makes the mapped bytes durable as
    /// `flush` does (on Linux `msync(MS_SYNC)` is an fdatasync of the mapped range),
    /// without borrowing the map: an index syncs through it with its lock released, so
    /// that its appender does not wait for the write. `None` where only `flush` can: an
    /// empty map, a file no longer under its name, and the simulation's maps, which are
    /// private buffers. (A map does not keep a descriptor open: with 10,000 partitions
    /// that would be 20,000 more.)
    fn sync_handle(&self) -> Option<Arc<dyn FsFile>> {
        None
    }
}

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; created if missing.
    ReadWriteCreate,
}

/// The file system the log runs on.
pub trait Fs: Send + Sync + fmt::Debug + 'static {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>>;
    /// Maps `path` read-write at exactly `len` bytes (created, extended or truncated).
    fn map(&self, path: &Path, len: u64) -> io::Result<Box<dyn MappedFile>>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names (not paths) of the entries in `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn is_dir(&self, path: &Path) -> bool;
    fn exists(&self, path: &Path) -> bool;
    fn file_len(&self, path: &Path) -> io::Result<u64>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes an empty directory.
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Allocates disk blocks for the first `len` bytes of the existing file `path`,
    /// without changing its length (`fallocate`). A mapped index is preallocated sparse;
    /// writing into a hole of a mapping on a full file system kills the process with
    /// SIGBUS, so the index allocates the blocks first and gets ENOSPC instead. A file
    /// system that cannot allocate ahead (no `fallocate`) answers Ok.
    fn allocate(&self, _path: &Path, _len: u64) -> io::Result<()> {
        Ok(())
    }
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

#[derive(Debug)]
struct RealFile(File);

impl FsFile for RealFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.0, buf, pos)
    }
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, buf, pos)
    }
    fn write_all_vectored_at(&self, parts: &[&[u8]], pos: u64) -> io::Result<()> {
        pwritev_all(std::os::fd::AsRawFd::as_raw_fd(&self.0), parts, pos)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn start_write_back(&self, pos: u64, len: u64) -> io::Result<()> {
        let (Ok(pos), Ok(len)) = (libc::off64_t::try_from(pos), libc::off64_t::try_from(len))
        else {
            return Ok(());
        };
        // SAFETY: a plain syscall on a descriptor this file owns; no memory is passed.
        // SYNC_FILE_RANGE_WRITE alone neither waits nor consumes the file's writeback
        // error, which the next fdatasync reports.
        let r = unsafe {
            libc::sync_file_range(
                std::os::fd::AsRawFd::as_raw_fd(&self.0),
                pos,
                len,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    fn raw_fd(&self) -> Option<i32> {
        Some(std::os::fd::AsRawFd::as_raw_fd(&self.0))
    }
}

/// The most buffers one `pwritev` takes (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// Writes every byte of `parts`, in order, at `pos` of `fd`: `pwritev` calls of up to
/// [`IOV_MAX`] buffers, resumed where a short write stopped.
fn pwritev_all(fd: i32, parts: &[&[u8]], mut pos: u64) -> io::Result<()> {
    let mut iov: Vec<libc::iovec> = parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        })
        .collect();
    // The buffers not yet wholly written: `iov[first..]`, the first one advanced past what
    // a short write took of it.
    let mut first = 0;
    while first < iov.len() {
        let count = (iov.len() - first).min(IOV_MAX);
        let offset = libc::off_t::try_from(pos)
            .map_err(|_| io::Error::other("file offset exceeds off_t"))?;
        // SAFETY: every iovec describes a live slice of `parts` (borrowed for the whole
        // function; pwritev only reads them), or the unwritten tail of one; `count` is at
        // most IOV_MAX, which fits a c_int.
        let n = unsafe { libc::pwritev(fd, iov[first..].as_ptr(), count as libc::c_int, offset) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let mut written = n as usize;
        pos += written as u64;
        while written > 0 {
            let v = &mut iov[first];
            if written >= v.iov_len {
                written -= v.iov_len;
                first += 1;
            } else {
                // SAFETY: `written` < `iov_len`: the advanced pointer stays inside the slice.
                v.iov_base = unsafe { v.iov_base.cast::<u8>().add(written) }.cast();
                v.iov_len -= written;
                written = 0;
            }
        }
    }
    Ok(())
}

#[derive(Debug)]
struct RealMap {
    map: memmap2::MmapMut,
    /// The mapped file's path, device and inode (`None` for the anonymous stand-in of an
    /// empty one).
    file: Option<(PathBuf, u64, u64)>,
}

impl MappedFile for RealMap {
    fn bytes(&self) -> &[u8] {
        &self.map
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }
    fn flush(&self) -> io::Result<()> {
        self.map.flush()
    }
    fn sync_handle(&self) -> Option<Arc<dyn FsFile>> {
        use std::os::unix::fs::MetadataExt;
        let (path, dev, ino) = self.file.as_ref()?;
        let f = File::open(path).ok()?;
        let m = f.metadata().ok()?;
        // The same file, not another one created under its name since.
        (m.dev() == *dev && m.ino() == *ino).then(|| Arc::new(RealFile(f)) as Arc<dyn FsFile>)
    }
}

impl Fs for RealFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let f = match mode {
            OpenMode::Read => File::open(path)?,
            OpenMode::ReadWriteCreate => OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?,
        };
        Ok(Arc::new(RealFile(f)))
    }

    fn map(&self, path: &Path, len: u64) -> io::Result<Box<dyn MappedFile>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if f.metadata()?.len() != len {
            f.set_len(len)?;
        }
        if len == 0 {
            // mmap of zero bytes is an error on Linux; an anonymous empty map stands in.
            return Ok(Box::new(RealMap {
                map: memmap2::MmapMut::map_anon(0)?,
                file: None,
            }));
        }
        // SAFETY: the index files are private to this process (the data directory is
        // locked), so no other process truncates them under the mapping; the log trims a
        // file only after dropping its mapping.
        let map = unsafe { memmap2::MmapMut::map_mut(&f)? };
        // No read-around on faults: an active index is a sparse preallocated file written
        // one entry at a time, and a fault on a hole otherwise reads ahead (zero-fills)
        // large folios of holes; with hundreds of partitions that was most of the broker's
        // CPU in the end-to-end bench (docs/performance.md, "End to end"). Lookups are
        // binary searches, which read-around does not help either. Advisory: ignore errors.
        let _ = map.advise(memmap2::Advice::Random);
        let meta = f.metadata()?;
        Ok(Box::new(RealMap {
            map,
            file: Some((
                path.to_path_buf(),
                std::os::unix::fs::MetadataExt::dev(&meta),
                std::os::unix::fs::MetadataExt::ino(&meta),
            )),
        }))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn allocate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(path)?;
        let len = len.min(f.metadata()?.len());
        if len == 0 {
            return Ok(());
        }
        let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
        // SAFETY: a valid descriptor; mode 0 (allocate) within the file's length changes no
        // content and no size.
        let rc = unsafe { libc::fallocate(fd, 0, 0, len as libc::off_t) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => Ok(()),
            _ => Err(e),
        }
    }
}

/// The parent directory of `path`, for directory syncs.
pub(crate) fn parent_of(path: &Path) -> PathBuf {
    path.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod vectored_tests {
    use super::*;

    /// A map's sync handle is the mapped file, opened anew: there while the file is under
    /// its name; gone once it is renamed, or replaced by another file of that name (whose
    /// sync would not make this map durable); none for an empty map.
    #[test]
    fn a_sync_handle_is_the_mapped_file_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i");
        let mut map = RealFs.map(&path, 4096).unwrap();
        map.bytes_mut()[..4].copy_from_slice(b"abcd");
        let handle = map.sync_handle().expect("the mapped file");
        handle.sync_data().unwrap();
        let mut got = [0u8; 4];
        handle.read_exact_at(&mut got, 0).unwrap();
        assert_eq!(&got, b"abcd", "the handle reads the mapped pages");

        std::fs::rename(&path, dir.path().join("i.deleted")).unwrap();
        assert!(map.sync_handle().is_none(), "renamed away");
        std::fs::write(&path, [0u8; 4096]).unwrap();
        assert!(map.sync_handle().is_none(), "another file under the name");
        assert!(RealFs
            .map(&dir.path().join("empty"), 0)
            .unwrap()
            .sync_handle()
            .is_none());
    }

    /// Gathering writes land exactly where one write of the concatenation would: empty
    /// parts, more parts than one `pwritev` takes, and a write into the middle of a file.
    #[test]
    fn vectored_writes_equal_one_write_of_the_concatenation() {
        let dir = tempfile::tempdir().unwrap();
        let f = RealFs
            .open(&dir.path().join("f"), OpenMode::ReadWriteCreate)
            .unwrap();
        let pieces: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| (0..(i % 7) * 3).map(|j| (i * 31 + j) as u8).collect())
            .collect();
        let parts: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        let whole: Vec<u8> = pieces.concat();
        f.write_all_at(&[0xAA; 10], 0).unwrap();
        f.write_all_vectored_at(&parts, 10).unwrap();
        let mut got = vec![0u8; 10 + whole.len()];
        f.read_exact_at(&mut got, 0).unwrap();
        assert_eq!(&got[..10], &[0xAA; 10]);
        assert_eq!(&got[10..], &whole[..]);
        // Over the start of what is there: overwritten in place, nothing else touched.
        f.write_all_vectored_at(&[b"xy", b"", b"z"], 11).unwrap();
        f.read_exact_at(&mut got[..15], 0).unwrap();
        assert_eq!(&got[10..15], &[whole[0], b'x', b'y', b'z', whole[4]]);
    }
}
