//! Unit tests of the simulated disk.

use super::*;

fn p(s: &str) -> &Path {
    Path::new(s)
}

/// A disk with a durable `/d`.
fn disk() -> SimFs {
    let fs = SimFs::new();
    fs.create_dir_durable(p("/d")).unwrap();
    fs
}

fn write(fs: &SimFs, path: &str, bytes: &[u8], sync: bool) -> Arc<dyn FsFile> {
    let f = fs.open(p(path), OpenMode::ReadWriteCreate).unwrap();
    let len = f.len().unwrap();
    f.write_all_at(bytes, len).unwrap();
    if sync {
        f.sync_data().unwrap();
    }
    f
}

#[test]
fn unsynced_writes_are_lost_and_synced_ones_kept() {
    let fs = disk();
    let f = write(&fs, "/d/a", b"durable", true);
    fs.sync_dir(p("/d")).unwrap();
    f.write_all_at(b"+volatile", 7).unwrap();
    assert_eq!(fs.read_file(p("/d/a")).unwrap(), b"durable+volatile");
    let after = fs.crash();
    assert_eq!(after.read_file(p("/d/a")).unwrap(), b"durable");
    // A truncation is a write too: lost unless synced.
    let f = after.open(p("/d/a"), OpenMode::ReadWriteCreate).unwrap();
    f.set_len(3).unwrap();
    assert_eq!(after.crash().read_file(p("/d/a")).unwrap(), b"durable");
    f.set_len(3).unwrap_err(); // the old disk is frozen
}

#[test]
fn a_synced_file_without_a_synced_entry_is_lost() {
    let fs = disk();
    write(&fs, "/d/new", b"data", true);
    let after = fs.crash();
    assert!(!after.exists(p("/d/new")));
    assert!(after.is_dir(p("/d")));

    let fs = disk();
    write(&fs, "/d/new", b"data", false);
    fs.sync_dir(p("/d")).unwrap();
    // The entry survives, the unsynced content does not.
    assert_eq!(fs.crash().read_file(p("/d/new")).unwrap(), b"");
}

#[test]
fn a_directory_needs_its_parent_synced() {
    let fs = SimFs::new();
    fs.create_dir_all(p("/x/y")).unwrap();
    fs.sync_dir(p("/x")).unwrap();
    let after = fs.crash();
    assert!(!after.exists(p("/x")), "/ was never synced");

    let fs = SimFs::new();
    fs.create_dir_durable(p("/x/y")).unwrap();
    assert!(fs.crash().is_dir(p("/x/y")));
}

#[test]
fn renames_and_removals_revert_unless_the_directory_is_synced() {
    let fs = disk();
    write(&fs, "/d/a", b"A", true);
    write(&fs, "/d/b", b"B", true);
    fs.sync_dir(p("/d")).unwrap();
    fs.rename(p("/d/a"), p("/d/b")).unwrap();
    assert_eq!(fs.list_dir(p("/d")).unwrap(), vec!["b".to_string()]);
    assert_eq!(
        fs.read_file(p("/d/b")).unwrap(),
        b"A",
        "a rename replaces its target"
    );
    fs.remove_file(p("/d/b")).unwrap();
    assert!(fs.list_dir(p("/d")).unwrap().is_empty());
    let after = fs.crash();
    assert_eq!(after.read_file(p("/d/a")).unwrap(), b"A");
    assert_eq!(after.read_file(p("/d/b")).unwrap(), b"B");

    after.rename(p("/d/a"), p("/d/b")).unwrap();
    after.sync_dir(p("/d")).unwrap();
    after.remove_file(p("/d/b")).unwrap();
    let again = after.crash();
    assert_eq!(again.list_dir(p("/d")).unwrap(), vec!["b".to_string()]);
    assert_eq!(again.read_file(p("/d/b")).unwrap(), b"A");
}

#[test]
fn renamed_directories_follow_their_parent_sync() {
    let fs = disk();
    fs.create_dir_all(p("/d/t-0")).unwrap();
    fs.sync_dir(p("/d")).unwrap();
    write(&fs, "/d/t-0/f", b"x", true);
    fs.sync_dir(p("/d/t-0")).unwrap();
    fs.rename(p("/d/t-0"), p("/d/t-0.1-delete")).unwrap();
    assert!(fs.exists(p("/d/t-0.1-delete/f")));
    assert!(fs.crash().exists(p("/d/t-0/f")));
    let fs = disk();
    fs.create_dir_all(p("/d/t-0")).unwrap();
    fs.rename(p("/d"), p("/d/t-0/inside")).unwrap_err();
    fs.remove_dir(p("/d")).unwrap_err();
}

#[test]
fn handles_outlive_renames_and_removals() {
    let fs = disk();
    let f = write(&fs, "/d/a", b"1", false);
    fs.rename(p("/d/a"), p("/d/b")).unwrap();
    f.write_all_at(b"2", 1).unwrap();
    assert_eq!(fs.read_file(p("/d/b")).unwrap(), b"12");
    fs.remove_file(p("/d/b")).unwrap();
    f.write_all_at(b"3", 2).unwrap();
    assert_eq!(f.len().unwrap(), 3);
    assert!(fs.open(p("/d/b"), OpenMode::Read).is_err());
    let ro = write(&fs, "/d/c", b"", false);
    drop(ro);
    let ro = fs.open(p("/d/c"), OpenMode::Read).unwrap();
    assert_eq!(
        ro.write_all_at(b"x", 0).unwrap_err().kind(),
        io::ErrorKind::PermissionDenied
    );
}

#[test]
fn maps_are_durable_after_flush_and_volatile_after_unmap() {
    let fs = disk();
    let mut m = fs.map(p("/d/i"), 8).unwrap();
    fs.sync_dir(p("/d")).unwrap();
    m.bytes_mut()[..2].copy_from_slice(b"ab");
    m.flush().unwrap();
    m.bytes_mut()[2..4].copy_from_slice(b"cd");
    drop(m); // written back to the page cache only
    assert_eq!(&fs.read_file(p("/d/i")).unwrap()[..4], b"abcd");
    assert_eq!(&fs.durable_content(p("/d/i")).unwrap()[..4], b"ab\0\0");
    let after = fs.crash();
    assert_eq!(after.read_file(p("/d/i")).unwrap(), b"ab\0\0\0\0\0\0");
    // Unflushed mapped writes of a live map are lost at a crash.
    let mut m = after.map(p("/d/i"), 8).unwrap();
    m.bytes_mut()[0] = b'Z';
    let again = after.crash();
    drop(m);
    assert_eq!(again.read_file(p("/d/i")).unwrap()[0], b'a');
}

#[test]
fn crash_after_ops_freezes_at_that_call() {
    let fs = disk();
    let f = fs.open(p("/d/a"), OpenMode::ReadWriteCreate).unwrap();
    fs.sync_dir(p("/d")).unwrap();
    fs.crash_after_ops(2);
    f.write_all_at(b"one", 0).unwrap();
    f.sync_data().unwrap();
    assert!(f.write_all_at(b"two", 3).is_err());
    assert!(fs.is_crashed());
    assert!(fs.sync_dir(p("/d")).is_err());
    let after = fs.crash();
    assert_eq!(after.read_file(p("/d/a")).unwrap(), b"one");
    assert!(!after.is_crashed());
}

#[test]
fn injected_faults_fail_the_calls_they_cover() {
    let fs = disk();
    let f = write(&fs, "/d/a", b"ok", true);
    fs.fail_writes(true);
    let e = f.write_all_at(b"abcd", 2).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    assert_eq!(fs.read_file(p("/d/a")).unwrap(), b"okab", "a short write");
    f.sync_data().unwrap();
    fs.inject(Some(Fault::Syncs));
    f.write_all_at(b"!", 0).unwrap();
    f.sync_data().unwrap_err();
    fs.sync_dir(p("/d")).unwrap_err();
    assert_eq!(fs.durable_content(p("/d/a")).unwrap(), b"okab");
    fs.inject(None);
    fs.inject_after_ops(1, Fault::All);
    fs.create_dir_all(p("/d/e")).unwrap();
    fs.create_dir_all(p("/d/f")).unwrap_err();
    fs.inject(None);
    fs.create_dir_all(p("/d/f")).unwrap();
}

#[test]
fn torn_crashes_keep_a_prefix_of_unsynced_writes() {
    let mut seen = std::collections::HashSet::new();
    for seed in 0..200 {
        let fs = SimFs::torn(seed);
        fs.create_dir_durable(p("/d")).unwrap();
        let f = write(&fs, "/d/a", b"0123", true);
        fs.sync_dir(p("/d")).unwrap();
        f.write_all_at(b"456789", 4).unwrap();
        write(&fs, "/d/b", b"b", true);
        fs.rename(p("/d/a"), p("/d/c")).unwrap();
        let after = fs.crash();
        let (name, other) = if after.exists(p("/d/c")) {
            ("/d/c", "/d/a")
        } else {
            ("/d/a", "/d/c")
        };
        assert!(!after.exists(p(other)), "a rename is atomic");
        let got = after.read_file(p(name)).unwrap();
        assert!(got.len() >= 4 && got.len() <= 10, "{got:?}");
        assert_eq!(&got[..4], b"0123");
        let kept = got[4..].iter().take_while(|b| **b != 0).count();
        assert_eq!(
            &got[4..4 + kept],
            &b"456789"[..kept],
            "a prefix of the unsynced bytes"
        );
        assert!(
            got[4 + kept..].iter().all(|b| *b == 0),
            "then zeros: {got:?}"
        );
        seen.insert((got.len(), after.exists(p("/d/b"))));
    }
    assert!(seen.len() > 6, "torn crashes vary: {seen:?}");
    // A seed reproduces its crash.
    let run = || {
        let fs = SimFs::torn(7);
        fs.create_dir_durable(p("/d")).unwrap();
        write(&fs, "/d/a", b"x", true);
        fs.sync_dir(p("/d")).unwrap();
        write(&fs, "/d/a", &[9; 100], false);
        fs.crash().read_file(p("/d/a")).unwrap()
    };
    assert_eq!(run(), run());
}
