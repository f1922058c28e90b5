#![cfg(target_os = "linux")]
//! Scans a real child process: a forked copy of this test holding a shared mapping whose values
//! the test changes from outside, as a game changes its own.

use std::sync::Arc;

use memscan_core::edit::{apply, WriteOp};
use memscan_core::read::NoProgress;
use memscan_core::region::{Purpose, RegionOptions, RegionSource};
use memscan_core::scan::{Against, NextOp, OpName, Predicate, ScanOptions, Session};
use memscan_core::{BytePattern, Error, Process, Value, ValueType};

const SLOTS: usize = 1 << 20;

/// A child process sharing `SLOTS` i32 slots with the test. Killed on drop.
struct Child {
    pid: i32,
    mem: &'static mut [i32],
}

impl Child {
    fn spawn() -> Child {
        // SAFETY: a fresh shared anonymous mapping; the child only sleeps after fork.
        let mem = unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                SLOTS * 4,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            std::slice::from_raw_parts_mut(p as *mut i32, SLOTS)
        };
        for (i, v) in mem.iter_mut().enumerate() {
            *v = (i as i32).wrapping_mul(7919) & 0x00ff_ffff;
        }
        // SAFETY: the child calls only async-signal-safe functions (pause, _exit).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                loop {
                    libc::pause();
                }
            }
        }
        Child { pid, mem }
    }

    fn addr(&self, i: usize) -> u64 {
        &self.mem[i] as *const i32 as u64
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// The parts of the regions a scan would read inside `[lo, hi)`.
fn regions_in(p: &Process, lo: u64, hi: u64) -> Vec<memscan_core::Region> {
    let options = RegionOptions {
        address_range: Some((lo, hi)),
        ..Default::default()
    };
    p.select_regions(&options.source(Purpose::Scan).unwrap())
        .unwrap()
}

fn session(child: &Child) -> Session {
    let p = Process::open(child.pid).unwrap();
    let lo = child.addr(0);
    let regions = regions_in(&p, lo, lo + (SLOTS * 4) as u64);
    assert_eq!(regions.len(), 1);
    Session::new(
        p,
        ValueType::I32,
        RegionSource::Given(regions),
        ScanOptions::default(),
    )
}

fn addrs(set: &Arc<memscan_core::scan::CandidateSet>) -> Vec<u64> {
    set.gather::<i32>().0
}

#[test]
fn exact_scan_then_narrow_then_undo() {
    let child = Child::spawn();
    let known = [5usize, 64, 4095, 4096, 300_000, SLOTS - 1];
    for &i in &known {
        child.mem[i] = 0x7A11_BEEF;
    }
    let mut s = session(&child);
    let set = s
        .first(&Predicate::Eq(Value::I32(0x7A11_BEEF)), &NoProgress)
        .unwrap();
    assert_eq!(
        addrs(&set),
        known.iter().map(|&i| child.addr(i)).collect::<Vec<_>>()
    );

    child.mem[64] += 5;
    child.mem[4096] -= 1;
    let inc = s
        .next(&NextOp::Increased, &Against::Last, &NoProgress)
        .unwrap();
    assert_eq!(addrs(&inc), vec![child.addr(64)]);
    let back = s.undo().unwrap();
    assert_eq!(back.len(), known.len());
    let dec = s
        .next(
            &NextOp::DecreasedBy(Value::I32(1)),
            &Against::First,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(addrs(&dec), vec![child.addr(4096)]);
}

#[test]
fn unknown_initial_value_is_dense_then_sparse() {
    let child = Child::spawn();
    let mut s = session(&child);
    let all = s.first(&Predicate::Any, &NoProgress).unwrap();
    assert_eq!(all.len(), SLOTS);
    assert!(all.has_dense());
    assert!(all.nbytes() <= (SLOTS * 4) as u64 * 115 / 100);
    for i in [3usize, 77_777, 900_001] {
        child.mem[i] += 10;
    }
    let changed = s
        .next(&NextOp::Changed, &Against::Last, &NoProgress)
        .unwrap();
    assert!(!changed.has_dense());
    assert_eq!(
        addrs(&changed),
        [3usize, 77_777, 900_001].map(|i| child.addr(i)).to_vec()
    );
    let (_, vals) = changed.gather::<i32>();
    assert_eq!(vals[0], child.mem[3]);
    let unchanged = s
        .undo()
        .and_then(|_| s.next(&NextOp::Unchanged, &Against::Last, &NoProgress))
        .unwrap();
    assert_eq!(unchanged.len(), SLOTS - 3);
}

#[test]
fn checkpoints_and_relative_filter() {
    let child = Child::spawn();
    child.mem[10] = 1000;
    child.mem[20] = 1000;
    let mut s = session(&child);
    s.first(&Predicate::Eq(Value::I32(1000)), &NoProgress)
        .unwrap();
    s.save_checkpoint("a", &NoProgress).unwrap();
    child.mem[10] += 3;
    child.mem[20] += 3;
    s.save_checkpoint("b", &NoProgress).unwrap();
    child.mem[10] += 3;
    child.mem[20] += 50;
    s.save_checkpoint("c", &NoProgress).unwrap();
    let steady = s.filter_relative("a", "b", "c", 10.0).unwrap();
    assert_eq!(addrs(&steady), vec![child.addr(10)]);
    assert_eq!(s.checkpoints().len(), 3);
    s.delete_checkpoint("b").unwrap();
    assert!(matches!(s.checkpoint("b"), Err(Error::InvalidArgument(_))));
    let gt = s
        .next(
            &NextOp::Increased,
            &Against::Checkpoint("a".into()),
            &NoProgress,
        )
        .unwrap();
    assert_eq!(gt.len(), 1);
}

#[test]
fn writes_are_checked_and_all_or_nothing() {
    let child = Child::spawn();
    child.mem[1] = 10;
    child.mem[2] = i32::MAX - 1;
    let p = Process::open(child.pid).unwrap();
    let targets = [child.addr(1), child.addr(2)];
    let err = apply(
        &p,
        &targets,
        ValueType::I32,
        WriteOp::Add,
        Value::I32(5),
        false,
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidValue(_)));
    assert_eq!((child.mem[1], child.mem[2]), (10, i32::MAX - 1));
    apply(
        &p,
        &targets,
        ValueType::I32,
        WriteOp::Sub,
        Value::I32(1),
        false,
    )
    .unwrap();
    assert_eq!((child.mem[1], child.mem[2]), (9, i32::MAX - 2));
    let outside = apply(&p, &[8], ValueType::I32, WriteOp::Set, Value::I32(1), false).unwrap_err();
    assert!(matches!(outside, Error::InvalidAddress { .. }));
}

#[test]
fn pattern_and_exit() {
    let child = Child::spawn();
    child.mem[1234] = i32::from_ne_bytes([0xDE, 0xAD, 0xBE, 0xEF]);
    child.mem[1235] = i32::from_ne_bytes([0x13, 0x37, 0, 0]);
    let p = Process::open(child.pid).unwrap();
    let lo = child.addr(0);
    let regions = regions_in(&p, lo, lo + (SLOTS * 4) as u64);
    let pat = BytePattern::parse_hex("DE AD ?? EF 13 37").unwrap();
    let hits = memscan_core::scan::find_pattern(&p, &regions, &pat, &NoProgress).unwrap();
    assert_eq!(hits, vec![child.addr(1234)]);
    assert!("between".parse::<OpName>().is_ok());

    let pid = child.pid;
    drop(child);
    assert!(matches!(
        Process::open(pid),
        Err(Error::ProcessNotFound { .. })
    ));
}

#[test]
fn unreadable_pages_are_skipped_and_counted() {
    // A file mapping longer than its file: pages past the end fault (SIGBUS) when read.
    let path = std::env::temp_dir().join(format!("memscan-holes-{}", std::process::id()));
    std::fs::write(&path, vec![7u8; 4096]).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    // SAFETY: maps 3 pages of a 1-page file; the test never touches the pages past the end.
    let base = unsafe {
        use std::os::fd::AsRawFd;
        libc::mmap(
            std::ptr::null_mut(),
            3 * 4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED);
    let child = Child::spawn();
    let p = Process::open(child.pid).unwrap();
    let lo = base as u64;
    let regions = regions_in(&p, lo, lo + 3 * 4096);
    let mut s = Session::new(
        p,
        ValueType::U32,
        RegionSource::Given(regions),
        ScanOptions::default(),
    );
    let all = s.first(&Predicate::Any, &NoProgress).unwrap();
    assert_eq!(all.len(), 1024);
    assert_eq!(all.stats().bytes_unreadable, 2 * 4096);
    let sevens = s
        .first(&Predicate::Eq(Value::U32(0x0707_0707)), &NoProgress)
        .unwrap();
    assert_eq!(sevens.len(), 1024);
    drop(child);
    unsafe { libc::munmap(base, 3 * 4096) };
    let _ = std::fs::remove_file(path);
}

/// A write that passes every check but that the kernel stops part way (the second page turned
/// read-only after the regions were listed) is rolled back: nothing changes.
#[test]
fn a_write_stopped_part_way_is_rolled_back() {
    const PAGE: usize = 4096;
    // SAFETY: a fresh private mapping of two pages, inherited by the child.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            2 * PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED);
    // SAFETY: the mapping holds two pages.
    unsafe { std::ptr::write_bytes(base as *mut u8, 0x11, 2 * PAGE) };
    // SAFETY: the child calls only async-signal-safe functions.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            let pause = libc::timespec {
                tv_sec: 0,
                tv_nsec: 300_000_000,
            };
            libc::nanosleep(&pause, std::ptr::null_mut());
            libc::mprotect(
                (base as usize + PAGE) as *mut libc::c_void,
                PAGE,
                libc::PROT_READ,
            );
            loop {
                libc::pause();
            }
        }
    }
    let p = Process::open(pid).unwrap();
    let stale = p.regions().unwrap(); // both pages writable still
    std::thread::sleep(std::time::Duration::from_millis(800));
    let at = base as u64 + PAGE as u64 - 4;
    let r = p.write_within(&stale, at, &[0xff; 8], false);
    assert!(
        matches!(r, Err(Error::WriteFailed { written: 4, .. })),
        "{r:?}"
    );
    assert_eq!(p.read(at, 8).unwrap(), vec![0x11; 8]);
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// An image of regions clipped to an unaligned address range holds their whole pages and opens.
#[test]
fn images_of_clipped_regions_hold_whole_pages() {
    let child = Child::spawn();
    child.mem[100] = 0x5157_1234;
    let p = Process::open(child.pid).unwrap();
    let regions = regions_in(&p, child.addr(3), child.addr(5000));
    assert_eq!(regions[0].start, child.addr(3));
    let path = std::env::temp_dir().join(format!("memscan-clipped-{}.msimg", child.pid));
    memscan_core::save_image::save(&p, &regions, &path, &NoProgress).unwrap();
    let image = memscan_core::image::Image::open(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let saved = image.regions();
    assert_eq!(saved.len(), 1);
    assert_eq!(
        (saved[0].start, saved[0].end),
        (child.addr(0), child.addr(0) + 5 * 4096)
    );
    let offline = Process::from_image(image);
    assert_eq!(
        offline.read_value(child.addr(100), ValueType::I32).unwrap(),
        Value::I32(0x5157_1234)
    );
}
