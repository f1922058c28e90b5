#![cfg(windows)]
//! Scans a real Windows process: this test binary started again as a target (the ignored test
//! `target`), which holds known values at known addresses (a heap array, a value in its module's
//! data, a pointer chain from a static, a guard page) and changes them when told to on stdin.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;

use memscan_core::address::Address;
use memscan_core::code::{self, Patch, PatchOptions, SignatureOptions};
use memscan_core::edit::{apply, WriteOp};
use memscan_core::image::Image;
use memscan_core::pointer::{ChainOptions, PointerMap};
use memscan_core::read::NoProgress;
use memscan_core::region::{Purpose, RegionOptions, RegionSource};
use memscan_core::scan::{Against, CandidateSet, NextOp, Predicate, ScanOptions, Session};
use memscan_core::watch::{BreakpointKind, BreakpointSpec, Watch, WatchOptions};
use memscan_core::{BytePattern, Error, Process, RegionKind, Value, ValueType};

const TARGET_ENV: &str = "MEMSCAN_WINDOWS_TARGET";
const SLOTS: usize = 1 << 18;
const KNOWN: [usize; 5] = [5, 64, 4095, 70_000, SLOTS - 1];
const MARK: i32 = 0x7A11_BEEF;
const STATIC_VALUE: u64 = 0x51A7_1C00_0000_0042;
const HEALTH: i32 = 0x0BAD_F00D;
const PAGE: u64 = 4096;

/// A value in the executable's data section (not on the heap): found through `module+offset`.
static STATIC_SCORE: AtomicU64 = AtomicU64::new(STATIC_VALUE);

/// A player, reached as `[[exe+ROOT]+0x18]+0x2c`.
#[repr(C)]
struct Player {
    pad: [u8; 0x2c],
    health: i32,
}

#[repr(C)]
struct World {
    pad: [u8; 0x18],
    player: *mut Player,
}

static ROOT: AtomicPtr<World> = AtomicPtr::new(std::ptr::null_mut());

/// Where the target's known values are, as it reports them.
#[derive(Debug, Clone, Copy)]
struct Layout {
    slots: u64,
    score: u64,
    root: u64,
    health: u64,
    guarded: u64,
}

/// Not a test: the process the other tests scan (started by [`Target::spawn`]).
#[test]
#[ignore = "the target process the other tests start (with MEMSCAN_WINDOWS_TARGET=1)"]
fn target() {
    if std::env::var_os(TARGET_ENV).is_none() {
        return;
    }
    let mut slots: Vec<i32> = (0..SLOTS as i32)
        .map(|i| i.wrapping_mul(7919) & 0x00ff_ffff)
        .collect();
    for &i in &KNOWN {
        slots[i] = MARK;
    }
    let player = Box::into_raw(Box::new(Player {
        pad: [0; 0x2c],
        health: HEALTH,
    }));
    let world = Box::into_raw(Box::new(World {
        pad: [0; 0x18],
        player,
    }));
    ROOT.store(world, Ordering::SeqCst);
    let guarded = guarded_pages();
    let layout = Layout {
        slots: slots.as_ptr() as u64,
        score: STATIC_SCORE.as_ptr() as u64,
        root: ROOT.as_ptr() as u64,
        health: unsafe { std::ptr::addr_of!((*player).health) } as u64,
        guarded,
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "memscan-target {:x} {:x} {:x} {:x} {:x}",
        layout.slots, layout.score, layout.root, layout.health, layout.guarded
    )
    .unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["add", i, n] => {
                let i: usize = i.parse().unwrap();
                slots[i] = slots[i].wrapping_add(n.parse().unwrap());
                std::hint::black_box(&slots);
                slots[i].to_string()
            }
            ["get", i] => std::hint::black_box(&slots)[i.parse::<usize>().unwrap()].to_string(),
            ["health"] => {
                unsafe { std::ptr::read_volatile(std::ptr::addr_of!((*player).health)) }.to_string()
            }
            ["guard"] => guard_is_set(guarded + PAGE).to_string(),
            ["score"] => STATIC_SCORE.load(Ordering::SeqCst).to_string(),
            ["exit"] => return,
            _ => "?".into(),
        };
        writeln!(out, "{reply}").unwrap();
        out.flush().unwrap();
    }
}

/// Three committed pages filled with `MARK`; the middle one is a guard page.
fn guarded_pages() -> u64 {
    use windows_sys::Win32::System::Memory::{
        VirtualAlloc, VirtualProtect, MEM_COMMIT, MEM_RESERVE, PAGE_GUARD, PAGE_READWRITE,
    };
    // SAFETY: a fresh allocation of three pages, filled before the guard is set.
    unsafe {
        let base = VirtualAlloc(
            std::ptr::null(),
            3 * PAGE as usize,
            MEM_COMMIT | MEM_RESERVE,
            PAGE_READWRITE,
        );
        assert!(!base.is_null());
        std::slice::from_raw_parts_mut(base.cast::<i32>(), 3 * PAGE as usize / 4).fill(MARK);
        let mut old = 0;
        let ok = VirtualProtect(
            base.cast::<u8>().add(PAGE as usize).cast(),
            PAGE as usize,
            PAGE_READWRITE | PAGE_GUARD,
            &mut old,
        );
        assert_ne!(ok, 0);
        base as u64
    }
}

fn guard_is_set(page: u64) -> bool {
    use windows_sys::Win32::System::Memory::{VirtualQuery, MEMORY_BASIC_INFORMATION, PAGE_GUARD};
    // SAFETY: VirtualQuery fills plain data.
    let mut info: MEMORY_BASIC_INFORMATION = unsafe { std::mem::zeroed() };
    let n = unsafe {
        VirtualQuery(
            page as *const _,
            &mut info,
            std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
        )
    };
    n != 0 && info.Protect & PAGE_GUARD != 0
}

/// The target process, killed on drop.
struct Target {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    at: Layout,
}

impl Target {
    fn spawn() -> Target {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "target",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(TARGET_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let at = loop {
            let mut line = String::new();
            assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "the target ended");
            // libtest prints `test target ... ` before the line, without a newline.
            if let Some((_, rest)) = line.split_once("memscan-target ") {
                let v: Vec<u64> = rest
                    .split_whitespace()
                    .map(|w| u64::from_str_radix(w, 16).unwrap())
                    .collect();
                break Layout {
                    slots: v[0],
                    score: v[1],
                    root: v[2],
                    health: v[3],
                    guarded: v[4],
                };
            }
        };
        Target {
            child,
            stdin,
            stdout,
            at,
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }

    fn slot(&self, i: usize) -> u64 {
        self.at.slots + 4 * i as u64
    }

    fn open(&self) -> Process {
        Process::open(self.pid()).unwrap()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

fn slot_session(t: &Target) -> Session {
    let p = t.open();
    let regions = regions_in(&p, t.slot(0), t.slot(SLOTS));
    Session::new(
        p,
        ValueType::I32,
        RegionSource::Given(regions),
        ScanOptions::default(),
    )
}

fn addrs(set: &Arc<CandidateSet>) -> Vec<u64> {
    set.gather::<i32>().0
}

/// The executable's module: its file name and load base.
fn exe_module(p: &Process) -> (String, u64) {
    let exe = p
        .modules()
        .unwrap()
        .into_iter()
        .find(|m| m.kind == RegionKind::Executable)
        .expect("the executable is a module");
    (exe.module.name().to_owned(), exe.module.base)
}

#[test]
fn exact_scan_then_narrow_undo_and_write() {
    let mut t = Target::spawn();
    let mut s = slot_session(&t);
    let set = s
        .first(&Predicate::Eq(Value::I32(MARK)), &NoProgress)
        .unwrap();
    let known: Vec<u64> = KNOWN.iter().map(|&i| t.slot(i)).collect();
    assert_eq!(addrs(&set), known);

    assert_eq!(t.ask("add 64 5"), (MARK + 5).to_string());
    assert_eq!(t.ask("add 70000 -1"), (MARK - 1).to_string());
    let inc = s
        .next(&NextOp::Increased, &Against::Last, &NoProgress)
        .unwrap();
    assert_eq!(addrs(&inc), vec![t.slot(64)]);
    assert_eq!(inc.gather::<i32>().1, vec![MARK + 5]);
    assert_eq!(s.undo().unwrap().len(), KNOWN.len());
    let dec = s
        .next(
            &NextOp::DecreasedBy(Value::I32(1)),
            &Against::First,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(addrs(&dec), vec![t.slot(70_000)]);

    // Writes land in the target, checked and all-or-nothing as on Linux.
    let p = t.open();
    apply(
        &p,
        &[t.slot(5), t.slot(4095)],
        ValueType::I32,
        WriteOp::Set,
        Value::I32(1234),
        false,
    )
    .unwrap();
    assert_eq!(t.ask("get 5"), "1234");
    assert_eq!(t.ask("get 4095"), "1234");
    let overflow = apply(
        &p,
        &[t.slot(6), t.slot(SLOTS - 1)],
        ValueType::I32,
        WriteOp::Add,
        Value::I32(i32::MAX),
        false,
    )
    .unwrap_err();
    assert!(matches!(overflow, Error::InvalidValue(_)), "{overflow:?}");
    assert_eq!(
        t.ask("get 6"),
        (6i32.wrapping_mul(7919) & 0xff_ffff).to_string()
    );
    let outside = apply(&p, &[8], ValueType::I32, WriteOp::Set, Value::I32(1), false).unwrap_err();
    assert!(
        matches!(outside, Error::InvalidAddress { .. }),
        "{outside:?}"
    );
}

#[test]
fn unknown_initial_value_then_changed() {
    let mut t = Target::spawn();
    let mut s = slot_session(&t);
    let all = s.first(&Predicate::Any, &NoProgress).unwrap();
    assert_eq!(all.len(), SLOTS);
    for i in [3usize, 77_777, 200_001] {
        t.ask(&format!("add {i} 10"));
    }
    let changed = s
        .next(&NextOp::Changed, &Against::Last, &NoProgress)
        .unwrap();
    assert_eq!(
        addrs(&changed),
        [3usize, 77_777, 200_001].map(|i| t.slot(i)).to_vec()
    );
    let want: i32 = t.ask("get 3").parse().unwrap();
    assert_eq!(changed.gather::<i32>().1[0], want);
}

#[test]
fn byte_patterns_and_the_whole_process() {
    let t = Target::spawn();
    let p = t.open();
    // The static's own bytes with one wildcard: nothing around it in `.data` is relied on.
    let mut hex: Vec<String> = STATIC_VALUE
        .to_le_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    hex[2] = "??".into();
    let pattern = BytePattern::parse_hex(&hex.join(" ")).unwrap();
    let regions = p.regions().unwrap();
    let hits = memscan_core::scan::find_pattern(&p, &regions, &pattern, &NoProgress).unwrap();
    assert!(hits.contains(&t.at.score), "{hits:x?}");

    // A first scan over every readable region finds the heap marks (and never faults on the
    // guard page, whose bytes hold the mark too but are not read).
    let mut s = Session::new(
        p,
        ValueType::I32,
        RegionOptions::default().source(Purpose::Scan).unwrap(),
        ScanOptions::default(),
    );
    let set = s
        .first(&Predicate::Eq(Value::I32(MARK)), &NoProgress)
        .unwrap();
    let found = addrs(&set);
    for &i in &KNOWN {
        assert!(found.contains(&t.slot(i)), "slot {i} missing");
    }
    let guard_page = t.at.guarded + PAGE..t.at.guarded + 2 * PAGE;
    assert!(!found.iter().any(|a| guard_page.contains(a)));
    assert!(found.contains(&t.at.guarded) && found.contains(&(t.at.guarded + 2 * PAGE)));
}

#[test]
fn module_data_and_address_expressions() {
    let t = Target::spawn();
    let p = t.open();
    let (name, base) = exe_module(&p);
    assert!(name.ends_with(".exe"), "{name}");
    let exe = p
        .modules()
        .unwrap()
        .into_iter()
        .find(|m| m.module.base == base)
        .unwrap();
    assert!((base..exe.end).contains(&t.at.score));
    let region = p
        .regions()
        .unwrap()
        .into_iter()
        .find(|r| r.start <= t.at.score && t.at.score < r.end)
        .unwrap();
    assert_eq!(region.kind, RegionKind::Executable);
    assert_eq!(region.windows.unwrap().kind_name(), "image");

    let score = Address::parse(&format!("\"{name}\"+{:x}", t.at.score - base)).unwrap();
    assert_eq!(score.resolve(&p).unwrap(), t.at.score);
    assert_eq!(
        p.read_value(t.at.score, ValueType::U64).unwrap(),
        Value::U64(STATIC_VALUE)
    );
    let chain = Address::parse(&format!("[[\"{name}\"+{:x}]+18]+2c", t.at.root - base)).unwrap();
    assert_eq!(chain.resolve(&p).unwrap(), t.at.health);
    assert_eq!(
        p.read_value(t.at.health, ValueType::I32).unwrap(),
        Value::I32(HEALTH)
    );
}

#[test]
fn patches_suspend_threads_and_signatures_resolve() {
    let mut t = Target::spawn();
    let p = t.open();
    let new = 0x0123_4567_89ab_cdefu64;
    let patch = Patch::apply(&p, t.at.score, &new.to_le_bytes(), PatchOptions::default()).unwrap();
    assert_eq!(patch.original, STATIC_VALUE.to_le_bytes());
    assert_eq!(t.ask("score"), new.to_string());
    assert!(patch.is_applied(&p).unwrap());
    patch.restore(&p, PatchOptions::default()).unwrap();
    assert_eq!(t.ask("score"), STATIC_VALUE.to_string());
    // A restore over bytes someone else changed refuses.
    let patch = Patch::apply(&p, t.at.score, &[7], PatchOptions::default()).unwrap();
    p.write(t.at.score, &[8], true).unwrap();
    assert!(matches!(
        patch.restore(&p, PatchOptions::default()),
        Err(Error::InvalidValue(_))
    ));
    p.write(t.at.score, &patch.original, true).unwrap();
    assert_eq!(t.ask("score"), STATIC_VALUE.to_string());

    // A signature of code in the EXE resolves back to it (or is refused as not unique).
    let (_, base) = exe_module(&p);
    let code = p
        .regions()
        .unwrap()
        .into_iter()
        .find(|r| r.perms.exec && r.module.as_ref().is_some_and(|m| m.base == base))
        .unwrap();
    let lines = code::disassemble(&p, code.start + 0x400, 8).unwrap();
    let at = lines[4].address;
    match code::signature(&p, at, SignatureOptions::default()) {
        Ok(sig) => assert_eq!(
            Address::parse(&sig.expression())
                .unwrap()
                .resolve(&p)
                .unwrap(),
            at
        ),
        Err(e) => assert!(matches!(e, Error::InvalidArgument(_)), "{e}"),
    }
}

#[test]
fn pointer_scan_finds_the_chain_from_the_static() {
    let t = Target::spawn();
    let p = t.open();
    let (name, base) = exe_module(&p);
    let map = PointerMap::capture(&p, &NoProgress).unwrap();
    assert_eq!(map.width, 8);
    let options = ChainOptions {
        max_depth: 3,
        max_offset: 0x100,
        modules: vec![name.clone()],
        ..ChainOptions::default()
    };
    let chains = map.chains(&[t.at.health], &options, &NoProgress).unwrap();
    let ours = chains
        .iter()
        .find(|c| c.base_offset == t.at.root - base && c.offsets == [0x18, 0x2c])
        .unwrap_or_else(|| panic!("no [[exe+root]+18]+2c among {chains:?}"));
    let resolved = memscan_core::pointer::resolve(&p, std::slice::from_ref(&ours)).unwrap();
    assert_eq!(resolved, vec![Some(t.at.health)]);
    assert_eq!(
        Address::parse(&ours.expression())
            .unwrap()
            .resolve(&p)
            .unwrap(),
        t.at.health
    );
}

#[test]
fn snapshot_image_keeps_the_values_of_its_moment() {
    let mut t = Target::spawn();
    let p = t.open();
    let regions = regions_in(&p, t.slot(0), t.slot(SLOTS));
    let dir = std::env::temp_dir().join(format!("memscan-win-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("slots.msimg");
    memscan_core::save_image::save(&p, &regions, &path, &NoProgress).unwrap();
    t.ask("add 64 1");
    let image = Process::from_image(Image::open(&path).unwrap());
    assert_eq!(
        image.read_value(t.slot(64), ValueType::I32).unwrap(),
        Value::I32(MARK)
    );
    assert_eq!(
        p.read_value(t.slot(64), ValueType::I32).unwrap(),
        Value::I32(MARK + 1)
    );
    let mut s = Session::new(
        image,
        ValueType::I32,
        RegionOptions::default().source(Purpose::Scan).unwrap(),
        ScanOptions::default(),
    );
    let set = s
        .first(&Predicate::Eq(Value::I32(MARK)), &NoProgress)
        .unwrap();
    assert_eq!(
        addrs(&set),
        KNOWN.iter().map(|&i| t.slot(i)).collect::<Vec<_>>()
    );
    drop(s); // Windows deletes no file that is open
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn guard_pages_are_never_read() {
    let mut t = Target::spawn();
    let p = t.open();
    let lo = t.at.guarded;
    let regions = regions_in(&p, lo, lo + 3 * PAGE);
    assert!(regions
        .iter()
        .all(|r| r.end <= lo + PAGE || r.start >= lo + 2 * PAGE));
    let all = p.regions().unwrap();
    let guard = all.iter().find(|r| r.start == lo + PAGE).unwrap();
    assert!(!guard.perms.read);
    assert!(
        guard
            .windows
            .unwrap()
            .protect_names()
            .contains("PAGE_GUARD"),
        "{guard:?}"
    );

    let err = p.read(lo + PAGE, 4).unwrap_err();
    assert!(matches!(err, Error::InvalidAddress { .. }), "{err:?}");
    // A read across the guard page stops before it.
    let (bytes, report) = p.read_partial(lo + PAGE - 8, 16).unwrap();
    assert_eq!(bytes.len(), 16);
    assert_eq!(report.read, 8);
    assert_eq!(report.unreadable, vec![(lo + PAGE, 8)]);
    let err = p.write_value(lo + PAGE, Value::I32(1), false).unwrap_err();
    assert!(matches!(err, Error::InvalidAddress { .. }), "{err:?}");
    assert_eq!(t.ask("guard"), "true", "memscan touched the guard page");
}

#[test]
fn bad_pids_exits_and_watches_give_typed_errors() {
    let err = Process::open(0x7fff_fff0).unwrap_err();
    assert!(matches!(err, Error::ProcessNotFound { .. }), "{err:?}");
    assert!(Process::open(-1).is_err());

    let mut t = Target::spawn();
    let p = t.open();
    let listed = memscan_core::find_processes(&p.info().name, true);
    assert!(listed.iter().any(|i| i.pid == t.pid()), "{listed:?}");
    assert_eq!(p.info().ppid, std::process::id() as i32);

    let watch = Watch::start(
        &p,
        vec![BreakpointSpec {
            address: t.slot(5),
            len: 4,
            kind: BreakpointKind::Write,
        }],
        WatchOptions {
            duration: None,
            max_hits: None,
            registers: false,
        },
    );
    assert!(
        matches!(&watch, Err(Error::Unsupported(m)) if m.contains("Windows")),
        "{:?}",
        watch.err()
    );

    let mut s = slot_session(&t);
    let first = s
        .first(&Predicate::Eq(Value::I32(MARK)), &NoProgress)
        .unwrap();
    t.ask("exit");
    t.child.wait().unwrap();
    let err = s
        .next(&NextOp::Changed, &Against::Last, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::ProcessExited { .. }), "{err:?}");
    assert_eq!(first.len(), KNOWN.len()); // earlier results stay readable
    let err = p.read(t.slot(0), 4).unwrap_err();
    assert!(matches!(err, Error::ProcessExited { .. }), "{err:?}");
}

#[test]
fn system_info_speaks_windows() {
    let info = memscan_core::platform::system_info();
    assert_eq!(info.page_size, 4096);
    assert_eq!(info.allocation_granularity, 65536);
    assert!(info.min_address >= 0x10000 && info.max_address > 0x7ff0_0000_0000);
    let t = Target::spawn();
    let p = t.open();
    let regions = p.regions().unwrap();
    let heap = regions
        .iter()
        .find(|r| r.start <= t.slot(0) && t.slot(0) < r.end)
        .unwrap();
    let w = heap.windows.unwrap();
    assert_eq!((w.state_name(), w.kind_name()), ("commit", "private"));
    assert!(regions.iter().any(|r| r.kind == RegionKind::Library));
    // The player is a small allocation of the process heap (Rust's allocator is HeapAlloc).
    let player = regions
        .iter()
        .find(|r| r.start <= t.at.health && t.at.health < r.end)
        .unwrap();
    assert_eq!(
        (player.kind, player.path.as_str()),
        (RegionKind::Heap, "[heap]")
    );
    assert!(regions.iter().any(|r| r.kind == RegionKind::Stack));
}

/// On demand (`-- --ignored --nocapture read_block_sizes`): `ReadProcessMemory` throughput by
/// block size, reading the target's slots over and over (256 MiB per size).
#[test]
#[ignore = "a measurement, not a check: run on demand"]
fn read_block_sizes() {
    let t = Target::spawn();
    let total = SLOTS * 4;
    let mut buf = vec![0u8; total];
    for block in [4usize << 10, 64 << 10, 256 << 10, 1 << 20] {
        let rounds = (256 << 20) / total;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            for (i, piece) in buf.chunks_mut(block).enumerate() {
                let at = t.slot(0) + (i * block) as u64;
                let n = memscan_core::platform::read_memory(t.pid(), at, piece).unwrap();
                assert_eq!(n, piece.len());
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "block {:>5} KiB: {:>7.0} MB/s",
            block >> 10,
            (rounds * total) as f64 / secs / 1e6
        );
    }
}
