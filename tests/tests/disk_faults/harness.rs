//! What the disk-fault tests share: a small tmpfs the test mounts (and always unmounts),
//! filling it, and librdkafka clients that produce one record at a time and read
//! everything back.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use myelin_tests::broker::Broker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A tmpfs of a given size, mounted on a new temporary directory, unmounted (lazily, so a
/// broker still holding files cannot keep it) and removed on drop, also when the test
/// fails. Needs root; without it the test fails loudly.
pub struct TmpfsMount {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl TmpfsMount {
    pub fn new(size_mib: u32) -> TmpfsMount {
        let dir = tempfile::Builder::new()
            .prefix("myelin-diskfault-")
            .tempdir()
            .expect("a temporary directory");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "these tests mount a small tmpfs and must run as root (CI does): mount failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TmpfsMount { dir, mounted: true }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes available on the file system.
    pub fn available(&self) -> u64 {
        myelin_log::space::stat(self.path())
            .expect("statvfs")
            .available
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
            self.mounted = false;
        }
    }
}

/// A file that takes up space on the test's file system.
pub struct Filler {
    path: PathBuf,
}

impl Filler {
    pub fn new(fs: &TmpfsMount) -> Filler {
        Filler {
            path: fs.path().join("filler"),
        }
    }

    /// Grows the file until at most `leave` bytes are available (or the disk is full).
    pub fn fill_leaving(&self, fs: &TmpfsMount, leave: u64) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .expect("open the filler");
        let chunk = vec![0xA5u8; 4096];
        while fs.available() > leave {
            let n = (fs.available() - leave).min(1 << 20) as usize;
            let n = n.div_ceil(4096);
            for _ in 0..n {
                if f.write_all(&chunk).is_err() {
                    return;
                }
            }
        }
    }

    /// Grows the file until a write fails: the disk is full.
    pub fn fill_up(&self, fs: &TmpfsMount) {
        self.fill_leaving(fs, 0);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .expect("open the filler");
        while f.write_all(&[0u8; 512]).is_ok() && f.sync_data().is_ok() {}
    }

    /// Frees the space.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn client_config(broker: &Broker) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap())
        .set("broker.address.family", "v4")
        .set("client.id", "myelin-e2e-disk-faults");
    config
}

/// A producer that reports the first error it gets (no retries) and sends each record
/// alone.
pub fn producer(broker: &Broker) -> FutureProducer {
    let mut config = client_config(broker);
    config
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("retries", "0")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "20000")
        .set("request.timeout.ms", "15000");
    config.create().expect("a producer")
}

/// A group consumer that only assigns, and commits by hand.
pub fn consumer(broker: &Broker, group: &str) -> BaseConsumer {
    let mut config = client_config(broker);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", "100")
        .set("enable.partition.eof", "true");
    config.create().expect("a consumer")
}

/// CreateTopics for `name` (one partition): whether it was created.
pub async fn try_create_topic(broker: &Broker, name: &str) -> bool {
    let admin = myelin_tests::admin::admin_client(&broker.bootstrap());
    myelin_tests::admin::try_create_topic_with(&admin, name, 1, &[]).await
}

pub async fn create_topic(broker: &Broker, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin = myelin_tests::admin::admin_client(&broker.bootstrap());
    myelin_tests::admin::create_topic_with(&admin, name, partitions, configs).await;
}

/// The value of record `i`: its number, then bytes derived from it, `len` in all.
pub fn value(i: usize, len: usize) -> Vec<u8> {
    let mut v = format!("rec-{i:06}-").into_bytes();
    let mut x = (i as u32).wrapping_mul(2_654_435_761).max(1);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.push(b'a' + (x % 26) as u8);
    }
    v
}

/// Produces record `i` to `topic`/`partition`: its offset, or the error.
pub async fn produce_one(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    i: usize,
    len: usize,
) -> Result<i64, KafkaError> {
    let v = value(i, len);
    let key = i.to_string();
    producer
        .send(
            FutureRecord::to(topic)
                .partition(partition)
                .key(&key)
                .payload(&v),
            Duration::from_secs(0),
        )
        .await
        .map(|delivery| delivery.offset)
        .map_err(|(e, _)| e)
}

/// Reads `topic`/`partition` from the beginning to its end: (offset, value) of each record.
pub fn read_all(broker: &Broker, topic: &str, partition: i32) -> Vec<(i64, Vec<u8>)> {
    let consumer = consumer(broker, "myelin-e2e-disk-faults-reader");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + TIMEOUT;
    let mut got = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "{topic}-{partition}: no end of partition after {TIMEOUT:?} ({} records)",
            got.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => got.push((m.offset(), m.payload().unwrap_or_default().to_vec())),
            Some(Err(KafkaError::PartitionEOF(_))) => return got,
            Some(Err(e)) => panic!("{topic}-{partition}: consumer error {e}"),
            None => {}
        }
    }
}

/// Asserts that `topic`/`partition` holds exactly records `0..n` (as `value(i, len)`) at
/// offsets `0..n`.
pub fn assert_records(broker: &Broker, topic: &str, partition: i32, n: usize, len: usize) {
    let got = read_all(broker, topic, partition);
    assert_eq!(got.len(), n, "{topic}-{partition}: records read back");
    for (i, (offset, v)) in got.iter().enumerate() {
        assert_eq!(
            *offset, i as i64,
            "{topic}-{partition}: offsets are contiguous"
        );
        assert!(
            *v == value(i, len),
            "{topic}-{partition}: record {i} differs from what was acknowledged"
        );
    }
}

/// Commits `offset` for `group` on `topic`/`partition` and reads it back.
pub fn commit(
    broker: &Broker,
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<(), KafkaError> {
    let consumer = consumer(broker, group);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
        .unwrap();
    consumer.commit(&tpl, CommitMode::Sync)?;
    let mut ask = TopicPartitionList::new();
    ask.add_partition(topic, partition);
    let committed = consumer.committed_offsets(ask, TIMEOUT)?;
    let got = committed
        .find_partition(topic, partition)
        .map(|p| p.offset());
    assert_eq!(
        got,
        Some(Offset::Offset(offset)),
        "committed offset read back"
    );
    Ok(())
}

/// An ext4 file system in a file, mounted through a loop device on a new temporary
/// directory, that the test can shut down as a failed disk does (`EXT4_IOC_SHUTDOWN`:
/// every later read and write fails with EIO). Unmounted on drop (lazily; the loop
/// device goes with it). Needs root.
pub struct Ext4Mount {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl Ext4Mount {
    pub fn new(size_mib: u32) -> Ext4Mount {
        let dir = tempfile::Builder::new()
            .prefix("myelin-diskfault-ext4-")
            .tempdir()
            .expect("a temporary directory");
        let image = dir.path().join("image");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(u64::from(size_mib) << 20))
            .expect("the image file");
        let out = Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(&image)
            .output()
            .expect("run mkfs.ext4");
        assert!(
            out.status.success(),
            "mkfs.ext4: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::create_dir(dir.path().join("mnt")).unwrap();
        let mut m = Ext4Mount {
            dir,
            mounted: false,
        };
        m.mount();
        m
    }

    fn mount(&mut self) {
        let out = Command::new("mount")
            .args(["-o", "loop"])
            .arg(self.dir.path().join("image"))
            .arg(self.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "these tests mount a loop device and must run as root (CI does): mount failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.mounted = true;
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    /// Shuts the file system down: from now on every I/O on it fails with EIO.
    pub fn shut_down(&self) {
        let dir = std::fs::File::open(self.path()).expect("open the mount point");
        const EXT4_IOC_SHUTDOWN: libc::c_ulong = 0x8004_587D;
        const EXT4_GOING_FLAGS_LOGFLUSH: u32 = 1;
        let flags = EXT4_GOING_FLAGS_LOGFLUSH;
        // SAFETY: an ioctl on an open descriptor with a pointer to a u32 that outlives it.
        let rc = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&dir),
                EXT4_IOC_SHUTDOWN,
                &flags as *const u32,
            )
        };
        assert_eq!(
            rc,
            0,
            "EXT4_IOC_SHUTDOWN: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Unmounts and mounts the file system again (the disk is back).
    pub fn remount(&mut self) {
        let status = Command::new("umount").arg(self.path()).status().unwrap();
        assert!(status.success(), "umount");
        self.mounted = false;
        self.mount();
    }
}

impl Drop for Ext4Mount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
            self.mounted = false;
        }
    }
}
