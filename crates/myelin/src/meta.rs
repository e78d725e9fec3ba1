//! The data directory's identity: `meta.properties`, as Kafka writes it, and the directory
//! lock.
//!
//! ```text
//! # Written by myelin. Do not edit: it ties the data to its cluster and node.
//! cluster.id=<22 characters: a random 128-bit id in unpadded base64url, as Kafka's>
//! node.id=<the node id>
//! version=1
//! directory.id=<22 characters>
//! ```
//!
//! The file is written once, when the directory is first used (to a temporary file,
//! fsync'ed, renamed, directory fsync'ed), and read at every start after: the cluster id
//! stays the same for the life of the data, and a start with a different `node.id` is
//! refused, as Kafka refuses it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file's name in the data directory.
pub const META_PROPERTIES: &str = "meta.properties";
/// The lock file (the same one `myelin_log::LogManager` would take).
pub const LOCK_FILE: &str = myelin_log::files::LOCK_FILE;

/// Why the data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the data directory {0} is in use by another process")]
    Locked(PathBuf),
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path} belongs to node.id {stored}, but this broker is configured with node.id {configured}")]
    NodeIdMismatch {
        path: PathBuf,
        stored: i32,
        configured: i32,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MetaError + '_ {
    move |source| MetaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `meta.properties` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    /// The cluster's id, reported to clients in Metadata and DescribeCluster.
    pub cluster_id: String,
    /// The node's id.
    pub node_id: i32,
    /// This directory's id.
    pub directory_id: String,
}

/// A random Kafka-style id: 16 random bytes as unpadded base64url (22 characters).
pub fn random_kafka_id() -> String {
    base64url(uuid::Uuid::new_v4().as_bytes())
}

pub(crate) fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Creates `dir` and every missing ancestor, syncing each new entry into its parent, so
/// that a power loss right after the first start does not lose the directory.
pub fn create_dir_durably(dir: &Path) -> Result<(), MetaError> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && !a.is_dir())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for created in missing.iter().rev() {
        let parent = created
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), MetaError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Takes the exclusive lock on `dir` (an advisory `flock` on its `.lock` file), held
/// until the returned file is dropped.
pub fn lock_dir(dir: &Path) -> Result<File, MetaError> {
    let path = dir.join(LOCK_FILE);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(MetaError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(io(&path)(e)),
    }
}

/// Reads `meta.properties` in `dir`, or writes a new one (with a fresh cluster id) when the
/// directory has none. Fails when the stored node id is not `node_id`.
pub fn load_or_create(dir: &Path, node_id: i32) -> Result<MetaProperties, MetaError> {
    let path = dir.join(META_PROPERTIES);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let meta = parse(&path, &text)?;
            if meta.node_id != node_id {
                return Err(MetaError::NodeIdMismatch {
                    path,
                    stored: meta.node_id,
                    configured: node_id,
                });
            }
            Ok(meta)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let meta = MetaProperties {
                cluster_id: random_kafka_id(),
                node_id,
                directory_id: random_kafka_id(),
            };
            write(dir, &meta)?;
            tracing::info!(path = %path.display(), cluster_id = %meta.cluster_id, "new data directory: cluster id generated");
            Ok(meta)
        }
        Err(e) => Err(io(&path)(e)),
    }
}

fn parse(path: &Path, text: &str) -> Result<MetaProperties, MetaError> {
    let invalid = |reason: String| MetaError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let props: BTreeMap<&str, &str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let get = |key: &str| {
        props
            .get(key)
            .copied()
            .ok_or_else(|| invalid(format!("no {key}")))
    };
    match get("version")? {
        "1" => {}
        v => return Err(invalid(format!("unsupported version {v} (expected 1)"))),
    }
    let cluster_id = get("cluster.id")?.to_string();
    if cluster_id.is_empty() {
        return Err(invalid("empty cluster.id".into()));
    }
    let node_id = get("node.id")?
        .parse()
        .map_err(|_| invalid("node.id is not a number".into()))?;
    let directory_id = props.get("directory.id").unwrap_or(&"").to_string();
    Ok(MetaProperties {
        cluster_id,
        node_id,
        directory_id,
    })
}

fn write(dir: &Path, meta: &MetaProperties) -> Result<(), MetaError> {
    let path = dir.join(META_PROPERTIES);
    let tmp = dir.join(format!("{META_PROPERTIES}.tmp"));
    let text = format!(
        "# Written by myelin. Do not edit: it ties the data to its cluster and node.\n\
         cluster.id={}\nnode.id={}\nversion=1\ndirectory.id={}\n",
        meta.cluster_id, meta.node_id, meta.directory_id
    );
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(text.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_kafkas() {
        let id = random_kafka_id();
        assert_eq!(id.len(), 22);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(id, random_kafka_id());
        // RFC 4648 test vectors, unpadded.
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(b"fooba"), "Zm9vYmE");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn created_once_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        create_dir_durably(&data).unwrap();
        let first = load_or_create(&data, 3).unwrap();
        let again = load_or_create(&data, 3).unwrap();
        assert_eq!(first, again);
        let err = load_or_create(&data, 4).unwrap_err();
        assert!(matches!(
            err,
            MetaError::NodeIdMismatch {
                stored: 3,
                configured: 4,
                ..
            }
        ));
    }

    #[test]
    fn reads_a_kafka_written_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(META_PROPERTIES),
            "#\n#Tue Nov 25 10:00:00 UTC 2025\nnode.id=1\ndirectory.id=abc\nversion=1\ncluster.id=MkU3OEVBNTcwNTJENDM2Qk\n",
        )
        .unwrap();
        let meta = load_or_create(dir.path(), 1).unwrap();
        assert_eq!(meta.cluster_id, "MkU3OEVBNTcwNTJENDM2Qk");
        std::fs::write(dir.path().join(META_PROPERTIES), "version=9\n").unwrap();
        assert!(matches!(
            load_or_create(dir.path(), 1),
            Err(MetaError::Invalid { .. })
        ));
    }

    #[test]
    fn a_second_lock_fails() {
        let dir = tempfile::tempdir().unwrap();
        let _held = lock_dir(dir.path()).unwrap();
        assert!(matches!(lock_dir(dir.path()), Err(MetaError::Locked(_))));
    }
}
