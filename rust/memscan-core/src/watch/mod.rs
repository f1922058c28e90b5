//! "Who writes this address?": hardware watchpoints on every thread of a process, recorded in the
//! background without stopping it. A [`Watch`] arms up to four breakpoints, drains their ring
//! buffers into columns, and disarms them when stopped or dropped (the kernel also disarms them
//! if this process dies).

mod report;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use report::hits_batch;

use crate::error::{Error, Result};
use crate::platform::breakpoint::{
    monotonic_ns, online_cpus, raise_open_files_limit, thread_ids, wait, Breakpoint, Record, Ring,
    Sample,
};
pub use crate::platform::breakpoint::{
    BreakpointKind, BreakpointSpec, REGISTERS, SAMPLED_REGISTERS,
};
use crate::process::Process;

/// At most this many watchpoints at once: x86-64 has four debug registers.
pub const MAX_WATCHPOINTS: usize = 4;

/// Data pages of each CPU's ring buffer (256 KiB with 4 KiB pages).
const RING_PAGES: usize = 64;

/// How often new threads are looked for, and the longest a hit waits to be read.
const POLL_MS: i32 = 10;
const RESCAN_THREADS: Duration = Duration::from_millis(200);

/// Limits of a watch.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many hits.
    pub max_hits: Option<usize>,
    /// Sample the user registers with each hit (the stored value of a `mov` comes from them,
    /// and they tell which of several decodings ran); costs about 10% of the hit rate.
    pub registers: bool,
}

/// The hits recorded so far, one entry per hit in each column.
#[derive(Debug, Clone, Default)]
pub struct Hits {
    /// Wall-clock time, nanoseconds since the Unix epoch.
    pub time_ns: Vec<i64>,
    pub tid: Vec<u32>,
    /// Index of the watchpoint that fired.
    pub watch: Vec<u8>,
    /// Sampled instruction pointer (after the access for data watchpoints).
    pub ip: Vec<u64>,
    /// Sampled registers, or `None`.
    pub registers: Vec<Option<[u64; REGISTERS]>>,
    /// The watched bytes (native order, zero-extended) read as the hit was processed.
    pub value: Vec<Option<u64>>,
}

impl Hits {
    pub fn len(&self) -> usize {
        self.ip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ip.is_empty()
    }

    /// The hits from index `from` on.
    pub fn since(&self, from: usize) -> Hits {
        let from = from.min(self.len());
        Hits {
            time_ns: self.time_ns[from..].to_vec(),
            tid: self.tid[from..].to_vec(),
            watch: self.watch[from..].to_vec(),
            ip: self.ip[from..].to_vec(),
            registers: self.registers[from..].to_vec(),
            value: self.value[from..].to_vec(),
        }
    }
}

/// What a watch has seen.
#[derive(Debug, Default)]
pub struct WatchState {
    pub hits: Hits,
    /// Samples the kernel dropped (ring full) or that came after `max_hits`.
    pub lost: u64,
    /// Times the kernel throttled a breakpoint (it drops samples while throttled).
    pub throttled: u64,
    /// Threads watched so far.
    pub threads: usize,
    /// Why the watch ended, once it has.
    pub ended: Option<String>,
    /// The error that ended it, if one did.
    pub error: Option<Error>,
}

/// The breakpoints of a watch, one per thread, CPU and watchpoint, and one ring per CPU that
/// they all write into (rings are dropped before the breakpoints).
struct Armed {
    registers: bool,
    cpus: Vec<i32>,
    rings: Vec<Ring>,
    breakpoints: Vec<Breakpoint>,
    /// Breakpoint id to watchpoint index.
    ids: HashMap<u64, u8>,
}

impl Armed {
    fn new(registers: bool) -> Self {
        Self {
            registers,
            cpus: online_cpus(),
            rings: Vec::new(),
            breakpoints: Vec::new(),
            ids: HashMap::new(),
        }
    }

    /// Arms `specs` on thread `tid` on every CPU and enables them.
    fn attach(&mut self, tid: i32, specs: &[BreakpointSpec]) -> Result<()> {
        let mut new = Vec::with_capacity(self.cpus.len() * specs.len());
        for (c, &cpu) in self.cpus.iter().enumerate() {
            for (i, &spec) in specs.iter().enumerate() {
                let bp = Breakpoint::open(tid, cpu, spec, self.registers)?;
                if self.rings.len() == c {
                    self.rings.push(Ring::new(&bp, RING_PAGES)?);
                } else {
                    bp.redirect(&self.rings[c])?;
                }
                self.ids.insert(bp.id, i as u8);
                new.push(bp);
            }
        }
        new.iter().try_for_each(Breakpoint::enable)?;
        self.breakpoints.extend(new);
        Ok(())
    }
}

/// Checks a watchpoint before the kernel sees it, so errors name the rule.
pub fn check_spec(spec: &BreakpointSpec) -> Result<()> {
    if spec.kind != BreakpointKind::Execute {
        if ![1, 2, 4, 8].contains(&spec.len) {
            return Err(Error::invalid_argument(format!(
                "a watchpoint covers 1, 2, 4 or 8 bytes, not {}",
                spec.len
            )));
        }
        if spec.address % spec.len != 0 {
            return Err(Error::invalid_argument(format!(
                "a {}-byte watchpoint must be aligned to {} bytes; {:#x} is not (watch {:#x} \
                 with size {} or a smaller size)",
                spec.len,
                spec.len,
                spec.address,
                spec.address & !(spec.len - 1),
                spec.len * 2
            )));
        }
    }
    Ok(())
}

/// A running (or finished) watch.
pub struct Watch {
    process: Process,
    specs: Vec<BreakpointSpec>,
    state: Arc<Mutex<WatchState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Arms `specs` on every thread of `process` (and on threads it creates) and starts
    /// recording. Errors (no permission, no free debug register, bad length) come from here,
    /// before anything runs.
    pub fn start(
        process: &Process,
        specs: Vec<BreakpointSpec>,
        options: WatchOptions,
    ) -> Result<Self> {
        if specs.is_empty() || specs.len() > MAX_WATCHPOINTS {
            return Err(Error::invalid_argument(format!(
                "a watch takes 1 to {MAX_WATCHPOINTS} addresses (the CPU has four debug \
                 registers), not {}",
                specs.len()
            )));
        }
        specs.iter().try_for_each(check_spec)?;
        process.require_live("watching")?;
        process.check()?;
        for s in &specs {
            // The watched bytes must be mapped: reading them says so, with the region's reason.
            let len = if s.kind == BreakpointKind::Execute {
                1
            } else {
                s.len as usize
            };
            process.read(s.address, len)?;
        }
        raise_open_files_limit();
        let mut armed = Armed::new(options.registers);
        let mut attached = HashSet::new();
        for tid in thread_ids(process.pid())? {
            match armed.attach(tid, &specs) {
                Ok(()) => {
                    attached.insert(tid as u32);
                }
                Err(Error::ProcessExited { .. }) if tid != process.pid() => {} // thread ended
                Err(e) => return Err(e),
            }
        }
        process.check_alive()?;
        let state = Arc::new(Mutex::new(WatchState {
            threads: attached.len(),
            ..WatchState::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let recorder = Recording {
            process: process.clone(),
            specs: specs.clone(),
            options,
            armed,
            attached,
            state: state.clone(),
            stop: stop.clone(),
            clock_offset: wall_ns() - monotonic_ns() as i64,
        };
        let thread = std::thread::Builder::new()
            .name("memscan-watch".into())
            .spawn(move || recorder.run())
            .map_err(|e| Error::io("starting the watch thread", e))?;
        Ok(Self {
            process: process.clone(),
            specs,
            state,
            stop,
            thread: Some(thread),
        })
    }

    pub fn process(&self) -> &Process {
        &self.process
    }

    pub fn specs(&self) -> &[BreakpointSpec] {
        &self.specs
    }

    /// Disarms every breakpoint and waits for the recorder to finish.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Waits until the watch ends by itself (duration, max hits, process exit) or is stopped.
    pub fn wait(&mut self, timeout: Option<Duration>) -> bool {
        let start = Instant::now();
        while !self.thread.as_ref().is_none_or(|t| t.is_finished()) {
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stop();
        true
    }

    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Reads the state under its lock.
    pub fn with_state<R>(&self, f: impl FnOnce(&WatchState) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wall_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The background side of a watch: owns the rings and drains them.
struct Recording {
    process: Process,
    specs: Vec<BreakpointSpec>,
    options: WatchOptions,
    armed: Armed,
    /// Threads with their own breakpoints, or that inherited them (seen in a fork record).
    attached: HashSet<u32>,
    state: Arc<Mutex<WatchState>>,
    stop: Arc<AtomicBool>,
    /// Wall clock minus the monotonic clock that samples carry.
    clock_offset: i64,
}

impl Recording {
    fn run(mut self) {
        let started = Instant::now();
        let mut last_rescan = Instant::now();
        let mut unseen: HashSet<i32> = HashSet::new();
        let ended = loop {
            if self.stop.load(Ordering::Relaxed) {
                break "stopped".to_owned();
            }
            if self
                .options
                .duration
                .is_some_and(|d| started.elapsed() >= d)
            {
                break "duration reached".to_owned();
            }
            let rings: Vec<&Ring> = self.armed.rings.iter().collect();
            let hung = !wait(&rings, POLL_MS).is_empty();
            if self.drain() {
                break "max_hits reached".to_owned();
            }
            if hung {
                // A ring's first thread exited: poll no longer blocks, so pace the loop.
                std::thread::sleep(Duration::from_millis(POLL_MS as u64));
            }
            if let Err(e) = self.process.check_alive() {
                self.finish(Some(e));
                return;
            }
            if last_rescan.elapsed() >= RESCAN_THREADS {
                last_rescan = Instant::now();
                // The full identity check: an `exec` ends the watch (the new program is not
                // the one whose addresses were watched).
                if let Err(e) = self
                    .process
                    .check()
                    .and_then(|()| self.adopt_new_threads(&mut unseen))
                {
                    self.finish(Some(e));
                    return;
                }
            }
        };
        // Hits written since the last drain (the target's accesses before `stop` returned).
        self.drain();
        self.lock().ended = Some(ended);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn finish(&self, error: Option<Error>) {
        let mut st = self.lock();
        st.ended = Some(match &error {
            Some(Error::ProcessExited { why, .. }) => format!("process {why}"),
            Some(e) => format!("error: {e}"),
            None => "stopped".to_owned(),
        });
        if !matches!(error, Some(Error::ProcessExited { .. })) {
            st.error = error;
        }
    }

    /// Attaches to threads that neither have their own breakpoints nor inherited them; a thread
    /// must be seen in two rescans in a row first, so that its fork record has arrived.
    fn adopt_new_threads(&mut self, unseen: &mut HashSet<i32>) -> Result<()> {
        let Ok(tids) = thread_ids(self.process.pid()) else {
            return Ok(());
        };
        let mut next = HashSet::new();
        for tid in tids {
            if self.attached.contains(&(tid as u32)) {
                continue;
            }
            if !unseen.contains(&tid) {
                next.insert(tid);
                continue;
            }
            match self.armed.attach(tid, &self.specs) {
                Ok(()) => {
                    self.attached.insert(tid as u32);
                    self.lock().threads += 1;
                }
                Err(Error::ProcessExited { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        *unseen = next;
        Ok(())
    }

    /// Moves every ring's records into the state. Returns true once `max_hits` is reached.
    fn drain(&mut self) -> bool {
        let mut samples: Vec<Sample> = Vec::new();
        let (mut lost, mut throttled) = (0u64, 0u64);
        for ring in &mut self.armed.rings {
            ring.drain(|r| match r {
                Record::Sample(s) => samples.push(s),
                Record::Lost(n) => lost += n,
                Record::Throttled => throttled += 1,
                Record::Forked { tid } => {
                    self.attached.insert(tid);
                }
            });
        }
        let pid = self.process.pid();
        if samples.is_empty() && lost == 0 && throttled == 0 {
            return false;
        }
        // Values of the watched bytes now: one read per watchpoint per drain with hits.
        let values: Vec<Option<u64>> = self
            .specs
            .iter()
            .map(|s| {
                let len = s.len.clamp(1, 8) as usize;
                let mut buf = [0u8; 8];
                (crate::platform::read_memory(pid, s.address, &mut buf[..len]).ok() == Some(len))
                    .then(|| u64::from_ne_bytes(buf))
            })
            .collect();
        // Values read after an exec are the new program's: not kept.
        let values = if self.process.check().is_ok() {
            values
        } else {
            vec![None; values.len()]
        };
        samples.sort_by_key(|s| s.time_ns);
        let mut st = self.lock();
        st.lost += lost;
        st.throttled += throttled;
        let room = self
            .options
            .max_hits
            .map_or(usize::MAX, |m| m.saturating_sub(st.hits.len()));
        let take = samples.len().min(room);
        st.lost += (samples.len() - take) as u64;
        for s in &samples[..take] {
            let Some(&w) = self.armed.ids.get(&s.id) else {
                continue;
            };
            let h = &mut st.hits;
            h.time_ns.push(s.time_ns as i64 + self.clock_offset);
            h.tid.push(s.tid);
            h.watch.push(w);
            h.ip.push(s.ip);
            h.registers.push(s.registers);
            h.value.push(values[w as usize]);
        }
        self.options.max_hits.is_some_and(|m| st.hits.len() >= m)
    }
}
