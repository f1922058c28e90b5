//! Pointer scans against ptrscan 1.0 (the core of PointerSearcher-X) on the same memscan pointer
//! map and parameters: chains found, seconds and chains/s at several depths, and whether the two
//! find the same chains. Benchmark harness only: ptrscan is never a dependency of memscan.
//!
//! ```text
//! ptrscan-anchor (--map FILE | --pid PID) --target ADDR [--pid PID] [--depths 3,5,7]
//!                [--max-chains N] [--max-offset N] [--timeout S] [--save FILE]
//!                [--repeat N] [--only memscan|native|values] [--map-only]
//! ```
//!
//! Each search runs `--repeat` times (default 3), and more until 0.25 s have passed (up to
//! 1000 runs): the best wall time is shown with the CPU time of that run (all threads). `--only KIND` runs one kind alone and prints, per depth, its
//! chains, wall and CPU seconds and the peak resident memory while it searched (the peak is
//! reset after loading, so it counts what the search keeps resident: memscan's map, or ptrscan's
//! inputs built from it, with the map then dropped), one process per kind.
//!
//! `--map` loads a map written by `PointerMap::save` (Python: `Process.pointer_map().save`);
//! `--pid` alone captures one (best of `--repeat`, with its CPU time, and the memory the first
//! capture added at its peak and kept); with `--map`, `--pid` is only used for the read limit
//! (also best of `--repeat`). `--map-only` stops after the capture
//! and the read limit (with the build's share of it).
//!
//! ptrscan is run two ways on the same map (see README "Pointer scans against ptrscan"):
//! * `native`, the way PointerSearcher-X calls it: `map` holds every pointer (value -> the
//!   addresses holding it), `points` the addresses of pointers stored in modules, and the callback
//!   keeps a chain only when its base (`Chain::addr`) lies in a module. The search goes on
//!   through static nodes, so it also lists chains whose middle pointers are static, which
//!   memscan (where a static node is always a base) does not: those are counted apart.
//! * `values`, shaped to memscan's question: `map` holds the pointers stored outside modules,
//!   `points` the values held in modules, and the callback expands each node it reports to every
//!   static pointer whose value is within the offset window (ptrscan only says one exists).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use memscan_core::pointer::{ChainList, ChainOptions, PointerMap};
use memscan_core::read::NoProgress;
use memscan_core::{Process, Region};

/// A chain on a common basis: absolute base address and the offsets added after each read.
type Key = (u64, Vec<i64>);

struct Args {
    map: Option<PathBuf>,
    pid: Option<i32>,
    save: Option<PathBuf>,
    target: u64,
    depths: Vec<usize>,
    max_chains: usize,
    max_offset: u64,
    timeout: f64,
    repeat: usize,
    only: Option<String>,
    map_only: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        map: None,
        pid: None,
        save: None,
        target: 0,
        depths: vec![3, 5, 7],
        max_chains: 100_000,
        max_offset: 4096,
        timeout: 120.0,
        repeat: 3,
        only: None,
        map_only: false,
    };
    let mut it = std::env::args().skip(1);
    let num = |s: &str| -> Result<u64, String> {
        let t = s.trim_start_matches("0x");
        if s.starts_with("0x") {
            u64::from_str_radix(t, 16)
        } else {
            s.parse()
        }
        .map_err(|e| format!("{s}: {e}"))
    };
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--map" => a.map = Some(val()?.into()),
            "--pid" => a.pid = Some(num(&val()?)? as i32),
            "--save" => a.save = Some(val()?.into()),
            "--target" => a.target = num(&val()?)?,
            "--depths" => {
                a.depths = val()?
                    .split(',')
                    .map(|d| d.parse().map_err(|e| format!("{d}: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--max-chains" => a.max_chains = num(&val()?)? as usize,
            "--max-offset" => a.max_offset = num(&val()?)?,
            "--timeout" => a.timeout = val()?.parse().map_err(|e| format!("--timeout: {e}"))?,
            "--repeat" => a.repeat = (num(&val()?)? as usize).max(1),
            "--map-only" => a.map_only = true,
            "--only" => {
                let kind = val()?;
                if !["memscan", "native", "values"].contains(&kind.as_str()) {
                    return Err(format!("--only memscan|native|values, not {kind}"));
                }
                a.only = Some(kind)
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.map.is_none() && a.pid.is_none() {
        return Err("give --map FILE or --pid PID".into());
    }
    if a.target == 0 {
        return Err("give --target ADDR".into());
    }
    Ok(a)
}

/// memscan's rule for a static base (`PointerMap::chains` with no module filter): the address
/// lies in a region that belongs to a module.
fn is_static(regions: &[Region], at: u64) -> bool {
    let i = regions.partition_point(|r| r.end <= at);
    regions
        .get(i)
        .is_some_and(|r| r.start <= at && r.module.is_some())
}

/// The regions `PointerMap::capture` reads pointers from.
fn homes(regions: &[Region]) -> Vec<&Region> {
    regions
        .iter()
        .filter(|r| {
            r.perms.read && !r.perms.exec && !memscan_core::region::is_device_mapping(&r.path)
        })
        .filter(|r| r.perms.write || r.module.is_some())
        .filter(|r| r.kind != memscan_core::RegionKind::Special)
        .collect()
}

/// One thread reading every home region in 1 MiB pieces into one reused buffer: bytes, seconds.
fn read_limit(process: &Process, regions: &[Region]) -> (u64, f64) {
    let mut buf = vec![0u8; 1 << 20];
    let t = Instant::now();
    let mut total = 0u64;
    for r in homes(regions) {
        let mut at = r.start;
        while at < r.end {
            let n = ((r.end - at) as usize).min(buf.len());
            if let Ok(got) = process.memory().read(at, &mut buf[..n]) {
                total += got as u64;
            }
            at += n as u64;
        }
    }
    (total, t.elapsed().as_secs_f64())
}

/// Checks a chain against the map itself: each read hits a stored pointer, each offset is within
/// the window, the nodes in between are neither static nor the target, the last is the target.
struct Verifier<'a> {
    value_at: HashMap<u64, u64>,
    regions: &'a [Region],
    target: u64,
    max_offset: u64,
}

impl Verifier<'_> {
    fn valid(&self, (base, offsets): &Key, depth: usize) -> bool {
        if offsets.is_empty() || offsets.len() > depth || !is_static(self.regions, *base) {
            return false;
        }
        let mut at = *base;
        for (i, &o) in offsets.iter().enumerate() {
            if i > 0 && (at == self.target || is_static(self.regions, at)) {
                return false;
            }
            let Some(&v) = self.value_at.get(&at) else {
                return false;
            };
            if o < 0 || o as u64 > self.max_offset {
                return false;
            }
            at = v + o as u64;
        }
        at == self.target
    }
}

/// Chains as a search hands them over, inside the timing: ptrscan's callback appends each to
/// flat columns (as memscan's `ChainList` holds them); keys are made after the timing.
enum Found {
    Flat {
        bases: Vec<u64>,
        offsets: Vec<i64>,
        ends: Vec<usize>,
    },
    List(ChainList),
}

impl Found {
    fn flat() -> Self {
        Found::Flat {
            bases: Vec::new(),
            offsets: Vec::new(),
            ends: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Found::Flat { bases, .. } => bases.len(),
            Found::List(list) => list.len(),
        }
    }

    fn push(&mut self, base: u64, offsets: impl Iterator<Item = i64>) {
        if let Found::Flat {
            bases,
            offsets: all,
            ends,
        } = self
        {
            bases.push(base);
            all.extend(offsets);
            ends.push(all.len());
        }
    }

    fn keys(&self) -> Vec<Key> {
        match self {
            Found::Flat {
                bases,
                offsets,
                ends,
            } => (0..bases.len())
                .map(|i| {
                    let start = if i == 0 { 0 } else { ends[i - 1] };
                    (bases[i], offsets[start..ends[i]].to_vec())
                })
                .collect(),
            Found::List(list) => list
                .iter()
                .map(|c| (c.module.base + c.base_offset, c.offsets))
                .collect(),
        }
    }
}

struct Run {
    found: Found,
    /// Made from `found` after the timing.
    chains: Vec<Key>,
    /// ptrscan native: chains with a static node or the target in the middle (not memscan's).
    other: usize,
    /// Best wall time of the repeats, and the CPU time (all threads) of that run.
    seconds: f64,
    cpu: f64,
    capped: bool,
}

/// CPU time of this process so far (all threads), in seconds.
fn cpu_now() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Seconds of repeats below which a quick search runs again (as `timeit` autoranges): a search
/// of a millisecond is timed over many runs, so one slow first run or a noisy neighbour does
/// not decide it. Every kind of search gets the same treatment.
const MIN_TIMED: f64 = 0.25;

/// Runs `f` `repeat` times, and more (up to 1000) until [`MIN_TIMED`] seconds have passed: the
/// run with the best wall time, with its wall and CPU seconds.
fn best_of(repeat: usize, mut f: impl FnMut() -> Run) -> Run {
    let mut best: Option<Run> = None;
    let started = Instant::now();
    let mut runs = 0;
    while runs < repeat || (runs < 1000 && started.elapsed().as_secs_f64() < MIN_TIMED) {
        runs += 1;
        let (t, c) = (Instant::now(), cpu_now());
        let mut run = f();
        run.seconds = t.elapsed().as_secs_f64();
        run.cpu = cpu_now() - c;
        if best.as_ref().is_none_or(|b| run.seconds < b.seconds) {
            best = Some(run);
        }
    }
    let mut best = best.expect("at least one run");
    best.chains = best.found.keys();
    best
}

/// Resets this process's peak resident memory (Linux >= 4.0: `clear_refs` 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory since the last reset, MiB.
fn peak_mib() -> f64 {
    status_mib("VmHWM:")
}

/// A `kB` field of `/proc/self/status` (`VmRSS:`, `VmHWM:`), MiB.
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// ptrscan as PointerSearcher-X calls it.
fn ptrscan_native(
    map: &BTreeMap<usize, Vec<usize>>,
    points: &[usize],
    regions: &[Region],
    target: u64,
    depth: usize,
    max_offset: u64,
    cap: usize,
) -> Run {
    let (mut found, mut other, mut n) = (Found::flat(), 0usize, 0usize);
    let param = ptrscan::Param {
        depth,
        addr: target as usize,
        range: (0, max_offset as usize),
    };
    let flow: ControlFlow<()> = ptrscan::try_pointer_chain_scan(map, points, param, &mut |c| {
        let base = c.addr() as u64;
        // PointerSearcher-X's callback: a base outside every module is dropped.
        if c.len() == 0 || !is_static(regions, base) {
            return ControlFlow::Continue(());
        }
        // raw_data[i] = (value read, offset) toward node value + offset; [0] is the target.
        let middle_static = c.raw_data()[1..].iter().any(|&(k, o)| {
            let node = k.wrapping_add_signed(o) as u64;
            node == target || is_static(regions, node)
        });
        if middle_static {
            other += 1;
        } else {
            found.push(base, c.data().map(|&o| o as i64));
        }
        n += 1;
        if n >= cap {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    Run {
        found,
        chains: Vec::new(),
        other,
        seconds: 0.0,
        cpu: 0.0,
        capped: flow.is_break(),
    }
}

/// ptrscan shaped to memscan's question (static pointers' values as `points`).
#[allow(clippy::too_many_arguments)]
fn ptrscan_values(
    map: &BTreeMap<usize, Vec<usize>>,
    points: &[usize],
    statics: &[(u64, u64)],
    target: u64,
    depth: usize,
    max_offset: u64,
    cap: usize,
) -> Run {
    let mut found = Found::flat();
    let param = ptrscan::Param {
        depth: depth - 1,
        addr: target as usize,
        range: (0, max_offset as usize),
    };
    let flow: ControlFlow<()> = ptrscan::try_pointer_chain_scan(map, points, param, &mut |c| {
        let node = c.addr() as u64;
        if c.len() > 0 && node == target {
            return ControlFlow::Continue(()); // a cycle through the target
        }
        let lo = statics.partition_point(|s| s.0 < node.saturating_sub(max_offset));
        for &(value, at) in statics[lo..].iter().take_while(|s| s.0 <= node) {
            let first = std::iter::once((node - value) as i64);
            found.push(at, first.chain(c.data().map(|&o| o as i64)));
            if found.len() >= cap {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    Run {
        found,
        chains: Vec::new(),
        other: 0,
        seconds: 0.0,
        cpu: 0.0,
        capped: flow.is_break(),
    }
}

/// The sizes of a breadth-first search from the target (frontier -> pointers in its windows at
/// each level): how much `PointerMap::chains` claims level by level before it lists chains.
fn bfs_profile(pm: &PointerMap, target: u64, depth: usize, max_offset: u64, cap: usize) {
    let values: Vec<u64> = pm.values().collect();
    let addresses: Vec<u64> = pm.addresses().collect();
    let mut seen: HashSet<u64> = HashSet::from([target]);
    let (mut frontier, mut bases, mut edges) = (vec![target], 0usize, 0usize);
    let mut levels = Vec::new();
    for _ in 1..=depth {
        let mut next = Vec::new();
        let mut found = 0usize;
        for &node in &frontier {
            let first = values.partition_point(|&v| v < node.saturating_sub(max_offset));
            let last = values.partition_point(|&v| v <= node);
            found += last - first;
            for &at in &addresses[first..last] {
                if seen.insert(at) {
                    if is_static(&pm.regions, at) {
                        bases += 1;
                    } else {
                        next.push(at);
                    }
                }
            }
        }
        edges += found;
        levels.push(format!("{}->{found}", frontier.len()));
        frontier = next;
        if frontier.is_empty() || bases >= cap {
            break;
        }
    }
    println!(
        "memscan depth {depth}: levels expanded (frontier->edges) {}; {edges} edges, {bases} bases",
        levels.join(", ")
    );
}

/// Runs `f` on its own thread, giving up after `timeout` seconds (the thread is left behind:
/// the caller runs nothing timed after that).
fn with_timeout<T: Send + 'static>(
    timeout: f64,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs_f64(timeout)).ok()
}

fn rate(n: usize, s: f64) -> String {
    format!("{:>12.0}", n as f64 / s.max(1e-9))
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{}", USAGE);
            std::process::exit(2);
        }
    };
    let process = args
        .pid
        .map(|pid| Process::open(pid).expect("open the process"));
    let (pm, built) = match (&args.map, &process) {
        (Some(path), _) => {
            let t = Instant::now();
            let pm = PointerMap::load(path).expect("load the pointer map");
            println!(
                "pointer map: {} pointers loaded from {} in {:.2} s",
                pm.len(),
                path.display(),
                t.elapsed().as_secs_f64()
            );
            (pm, None)
        }
        (None, Some(p)) => {
            // Best of `--repeat` captures, each from a fresh read of the process; the memory
            // the first one added at its peak and kept.
            let mut best: Option<(f64, f64, PointerMap)> = None;
            let mut memory = (0.0, 0.0);
            for k in 0..args.repeat {
                let before = status_mib("VmRSS:");
                reset_peak();
                let (t, c) = (Instant::now(), cpu_now());
                let pm = PointerMap::capture(p, &NoProgress).expect("capture the pointer map");
                let (s, cpu) = (t.elapsed().as_secs_f64(), cpu_now() - c);
                if k == 0 {
                    memory = (peak_mib() - before, status_mib("VmRSS:") - before);
                }
                if best.as_ref().is_none_or(|b| s < b.0) {
                    best = Some((s, cpu, pm));
                }
            }
            println!(
                "first capture: {:.1} MiB added at its peak, {:.1} MiB kept",
                memory.0, memory.1
            );
            let (s, cpu, pm) = best.expect("at least one capture");
            let bytes: u64 = homes(&pm.regions).iter().map(|r| r.size()).sum();
            println!(
                "pointer map: {} pointers ({:.1} MiB held, {:.1} bytes a pointer) from {:.0} MiB \
                 in {s:.3} s, CPU {cpu:.3} s ({:.2} GB/s, best of {})",
                pm.len(),
                pm.bytes() as f64 / (1 << 20) as f64,
                pm.bytes() as f64 / pm.len().max(1) as f64,
                bytes as f64 / (1 << 20) as f64,
                bytes as f64 / s / 1e9,
                args.repeat
            );
            (pm, Some(s))
        }
        (None, None) => unreachable!(),
    };
    if let Some(path) = &args.save {
        pm.save(path).expect("save the pointer map");
    }
    if let Some(p) = &process {
        let regions = p.regions().expect("regions");
        let (bytes, s) = (0..args.repeat)
            .map(|_| read_limit(p, &regions))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least one read");
        println!(
            "read limit (1 thread, 1 MiB reads of the same regions): {:.0} MiB in {s:.3} s \
             ({:.2} GB/s, best of {})",
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / s / 1e9,
            args.repeat
        );
        if let Some(built) = built {
            println!("map build at {:.0}% of the read limit", s / built * 100.0);
        }
    }
    if args.map_only {
        return;
    }
    let pm = std::sync::Arc::new(pm);
    let regions = pm.regions.clone();

    // ptrscan's inputs from the same map (built once; PointerSearcher-X builds them on load).
    let t = Instant::now();
    let mut all: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut outside: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut static_addrs: Vec<usize> = Vec::new();
    let mut statics: Vec<(u64, u64)> = Vec::new(); // (value, static address), by value
                                                   // With --only, just what that search uses (nothing for memscan).
    let only = args.only.as_deref();
    let (need_all, need_outside) = (
        only.is_none() || only == Some("native"),
        only.is_none() || only == Some("values"),
    );
    for (v, a) in pm.values().zip(pm.addresses()) {
        if need_all {
            all.entry(v as usize).or_default().push(a as usize);
        }
        if !need_all && !need_outside {
            continue;
        }
        if is_static(&regions, a) {
            static_addrs.push(a as usize);
            statics.push((v, a));
        } else if need_outside {
            outside.entry(v as usize).or_default().push(a as usize);
        }
    }
    static_addrs.sort_unstable();
    let mut static_values: Vec<usize> = statics.iter().map(|s| s.0 as usize).collect();
    static_values.dedup();
    println!(
        "ptrscan inputs: {} keys ({} outside modules), {} static pointers, built in {:.2} s",
        all.len(),
        outside.len(),
        static_addrs.len(),
        t.elapsed().as_secs_f64()
    );
    println!(
        "target {:#x}, offsets 0..={:#x}, at most {} chains",
        args.target, args.max_offset, args.max_chains
    );

    if std::env::var_os("ANCHOR_PROFILE").is_some() {
        for &depth in &args.depths {
            bfs_profile(&pm, args.target, depth, args.max_offset, args.max_chains);
        }
    }

    let (target, off, cap, repeat) = (args.target, args.max_offset, args.max_chains, args.repeat);
    let memscan_run = |pm: &PointerMap, depth: usize| -> Run {
        let options = ChainOptions {
            max_depth: depth,
            max_offset: off,
            max_negative_offset: 0,
            max_chains: cap,
            modules: Vec::new(),
            memory_budget: None,
        };
        let found = pm
            .chains(&[target], &options, &NoProgress)
            .expect("memscan chains");
        Run {
            capped: found.len() >= cap,
            found: Found::List(found),
            chains: Vec::new(),
            other: 0,
            seconds: 0.0,
            cpu: 0.0,
        }
    };

    if let Some(kind) = args.only.as_deref() {
        // One kind alone: only its own inputs stay resident while it searches.
        let pm = (kind == "memscan").then_some(pm);
        let all = (kind == "native").then_some(all);
        let outside = (kind == "values").then_some(outside);
        // SAFETY: malloc_trim only hands free heap memory back to the system.
        unsafe { libc::malloc_trim(0) };
        for &depth in &args.depths {
            reset_peak();
            let run = best_of(repeat, || match kind {
                "memscan" => memscan_run(pm.as_ref().expect("the map"), depth),
                "native" => ptrscan_native(
                    all.as_ref().expect("inputs"),
                    &static_addrs,
                    &regions,
                    target,
                    depth,
                    off,
                    cap,
                ),
                _ => ptrscan_values(
                    outside.as_ref().expect("inputs"),
                    &static_values,
                    &statics,
                    target,
                    depth,
                    off,
                    cap,
                ),
            });
            println!(
                "only {kind} depth {depth}: {}{} chains, wall {:.6} s, cpu {:.6} s, peak {:.1} MiB",
                run.chains.len() + run.other,
                if run.capped { "+" } else { "" },
                run.seconds,
                run.cpu,
                peak_mib()
            );
        }
        std::process::exit(0);
    }

    // memscan first, every depth (nothing else runs meanwhile), then ptrscan.
    let memscan: Vec<Run> = args
        .depths
        .iter()
        .map(|&depth| best_of(repeat, || memscan_run(&pm, depth)))
        .collect();
    let all = std::sync::Arc::new(all);
    let outside = std::sync::Arc::new(outside);
    let static_addrs = std::sync::Arc::new(static_addrs);
    let static_values = std::sync::Arc::new(static_values);
    let statics = std::sync::Arc::new(statics);
    let mut native: Vec<Option<Run>> = Vec::new();
    let mut values: Vec<Option<Run>> = Vec::new();
    let mut timed_out = false;
    for &depth in &args.depths {
        for (kind, out) in [("native", &mut native), ("values", &mut values)] {
            if timed_out {
                out.push(None);
                continue;
            }
            let (all, outside) = (all.clone(), outside.clone());
            let (sa, sv, st, rg) = (
                static_addrs.clone(),
                static_values.clone(),
                statics.clone(),
                regions.clone(),
            );
            let run = with_timeout(args.timeout, move || {
                best_of(repeat, || match kind {
                    "native" => ptrscan_native(&all, &sa, &rg, target, depth, off, cap),
                    _ => ptrscan_values(&outside, &sv, &st, target, depth, off, cap),
                })
            });
            if run.is_none() {
                println!(
                    "ptrscan {kind} at depth {depth}: no result in {} s",
                    args.timeout
                );
                timed_out = true;
            }
            out.push(run);
        }
    }

    let verifier = Verifier {
        value_at: pm.addresses().zip(pm.values()).collect(),
        regions: &regions,
        target: args.target,
        max_offset: args.max_offset,
    };
    println!();
    println!(
        "{:<5} {:<15} {:>9} {:>9} {:>9} {:>12} {:>10}  same chains as memscan",
        "depth", "search", "chains", "seconds", "cpu s", "chains/s", "memscan x"
    );
    for (i, &depth) in args.depths.iter().enumerate() {
        let m = &memscan[i];
        let mset: HashSet<&Key> = m.chains.iter().collect();
        let bad = m
            .chains
            .iter()
            .filter(|c| !verifier.valid(c, depth))
            .count();
        let line = |name: &str, r: &Run, total: usize, note: String| {
            println!(
                "{depth:<5} {name:<15} {:>9} {:>9.4} {:>9.4} {} {:>10}  {note}",
                format!("{total}{}", if r.capped { "+" } else { "" }),
                r.seconds,
                r.cpu,
                rate(total, r.seconds),
                if std::ptr::eq(r, m) {
                    String::new()
                } else {
                    format!(
                        "{:.2}",
                        (m.chains.len() as f64 / m.seconds) / (total as f64 / r.seconds)
                    )
                }
            );
        };
        line(
            "memscan",
            m,
            m.chains.len(),
            format!("{} of them invalid", bad),
        );
        for (name, run) in [
            ("ptrscan native", &native[i]),
            ("ptrscan values", &values[i]),
        ] {
            let Some(r) = run else {
                println!("{depth:<5} {name:<15} {:>9}  (not finished / not run)", "-");
                continue;
            };
            let rset: HashSet<&Key> = r.chains.iter().collect();
            let missing = rset.iter().filter(|c| !mset.contains(*c)).count();
            let extra = mset.iter().filter(|c| !rset.contains(*c)).count();
            let invalid = rset.iter().filter(|c| !verifier.valid(c, depth)).count();
            let exact = !r.capped && !m.capped;
            let note =
                format!(
                "{} comparable: {missing} not in memscan's, memscan has {extra} not in these{}{}{}",
                rset.len(),
                if invalid > 0 {
                    format!(", {invalid} invalid")
                } else {
                    String::new()
                },
                if r.other > 0 {
                    format!("; +{} through a static node", r.other)
                } else {
                    String::new()
                },
                if exact { "" } else { " (capped: orders differ)" },
            );
            line(name, r, r.chains.len() + r.other, note);
        }
    }
    // A ptrscan thread may still be running: leave without waiting for it.
    std::process::exit(0);
}

const USAGE: &str = "usage: ptrscan-anchor (--map FILE | --pid PID) --target ADDR [--pid PID] \
[--depths 3,5,7] [--max-chains N] [--max-offset N] [--timeout S] [--save FILE] [--repeat N] \
[--only memscan|native|values] [--map-only]";
