//! Value histories: the same addresses read every interval, stored as a (samples x addresses)
//! matrix of the native type, with a timestamp and an optional event label per sample.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::platform;
use crate::process::Process;
use crate::read::{clear_of_holes, with_buffer, Gather};
use crate::value::{dispatch, Column, Scalar, ValueType};

/// Reads the values at a fixed, sorted list of addresses, one row per call.
#[derive(Debug, Clone)]
pub struct Sampler {
    process: Process,
    ty: ValueType,
    addresses: Vec<u64>,
    gather: Gather,
    page: usize,
}

impl Sampler {
    /// Plans reads of `ty` values at `addresses` (sorted and deduplicated here).
    pub fn new(process: &Process, mut addresses: Vec<u64>, ty: ValueType) -> Result<Self> {
        process.require_live("recording values over time")?;
        if addresses.is_empty() {
            return Err(Error::invalid_argument("no addresses to sample"));
        }
        addresses.sort_unstable();
        addresses.dedup();
        let gather = Gather::new(&addresses, ty.size());
        let page = platform::page_size();
        Ok(Self {
            process: process.clone(),
            ty,
            addresses,
            gather,
            page,
        })
    }

    pub fn addresses(&self) -> &[u64] {
        &self.addresses
    }

    pub fn value_type(&self) -> ValueType {
        self.ty
    }

    /// Appends one row (a value per address, native bytes) to `row`; unreadable values read
    /// as zero. Returns how many were unreadable. The row is kept only if the process was still
    /// alive after the read (so it cannot come from a successor that took over the pid).
    pub fn sample_into(&self, row: &mut Vec<u8>) -> Result<usize> {
        let size = self.ty.size();
        with_buffer(self.gather.len, |buf| {
            let holes = self.gather.read(self.process.memory(), buf, self.page)?;
            self.process.check_alive()?;
            let mut lost = 0;
            let mut cur = 0;
            row.reserve(self.addresses.len() * size);
            if holes.is_empty() && self.gather.packed {
                row.extend_from_slice(buf); // packed addresses: the read is the row
                return Ok(0);
            }
            for &off in &self.gather.offsets {
                if !holes.is_empty() && !clear_of_holes(&holes, &mut cur, off, size) {
                    lost += 1;
                }
                row.extend_from_slice(&buf[off..off + size]);
            }
            Ok(lost)
        })
    }
}

/// A recorded history.
#[derive(Debug, Clone)]
pub struct History {
    pub value_type: ValueType,
    pub addresses: Vec<u64>,
    /// Wall-clock time of each sample, nanoseconds since the Unix epoch.
    pub timestamps_ns: Vec<i64>,
    /// The event label given for each sample, if any.
    pub labels: Vec<Option<String>>,
    /// Values unreadable in each sample.
    pub unreadable: Vec<u32>,
    /// Row-major (samples x addresses) values.
    pub values: Column,
}

impl History {
    /// Number of samples.
    pub fn samples(&self) -> usize {
        self.timestamps_ns.len()
    }
}

#[derive(Default)]
struct Recording {
    timestamps_ns: Vec<i64>,
    labels: Vec<Option<String>>,
    unreadable: Vec<u32>,
    rows: Vec<u8>,
    pending_label: Option<String>,
    error: Option<Error>,
}

/// Samples in a background thread until a count or duration is reached or it is stopped;
/// `mark` labels the next sample. Dropping the recorder stops it.
pub struct Recorder {
    sampler: Arc<Sampler>,
    state: Arc<Mutex<Recording>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl Recorder {
    /// Starts sampling every `interval` (as fast as possible when zero), for at most `count`
    /// samples and at most `duration`.
    pub fn start(
        sampler: Sampler,
        interval: Duration,
        count: Option<usize>,
        duration: Option<Duration>,
    ) -> Self {
        let sampler = Arc::new(sampler);
        let state: Arc<Mutex<Recording>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st, stp) = (sampler.clone(), state.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("memscan-record".into())
            .spawn(move || record_loop(&s, &st, &stp, interval, count, duration))
            .expect("spawning the recorder thread");
        Self {
            sampler,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// A recorder without a thread: samples are taken by [`Recorder::sample_now`].
    pub fn manual(sampler: Sampler) -> Self {
        Self {
            sampler: Arc::new(sampler),
            state: Arc::default(),
            stop: Arc::new(AtomicBool::new(true)),
            thread: None,
        }
    }

    /// Takes one sample now, labelled `label` (or with the pending mark).
    pub fn sample_now(&self, label: Option<String>) -> Result<()> {
        self.sampler.process.check()?;
        if let Some(l) = label {
            self.mark(l);
        }
        take_sample(&self.sampler, &self.state)
    }

    /// Labels the next sample (e.g. "took damage").
    pub fn mark(&self, label: impl Into<String>) {
        self.lock().pending_label = Some(label.into());
    }

    /// Samples taken so far.
    pub fn samples(&self) -> usize {
        self.lock().timestamps_ns.len()
    }

    /// True while sampling.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Waits until the recording ends by itself.
    pub fn wait(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stops sampling and waits for the thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wait();
    }

    /// The history so far (a copy; recording may go on). The error that ended the recording,
    /// if any, is returned only when no sample was taken.
    pub fn history(&self) -> Result<History> {
        let mut st = self.lock();
        if st.timestamps_ns.is_empty() {
            if let Some(e) = st.error.take() {
                return Err(e);
            }
        }
        let ty = self.sampler.value_type();
        let values = dispatch!(ty, T => Column::from_vec::<T>(st.rows.chunks(ty.size()).map(T::read_ne).collect()));
        Ok(History {
            value_type: ty,
            addresses: self.sampler.addresses().to_vec(),
            timestamps_ns: st.timestamps_ns.clone(),
            labels: st.labels.clone(),
            unreadable: st.unreadable.clone(),
            values,
        })
    }

    /// Why the recording stopped early (the process exited, ...), if it did.
    pub fn error(&self) -> Option<String> {
        self.lock().error.as_ref().map(ToString::to_string)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recording> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How often a recording checks that the process has not run `exec`.
const IDENTITY_CHECK_EVERY: Duration = Duration::from_millis(100);

fn record_loop(
    sampler: &Sampler,
    state: &Mutex<Recording>,
    stop: &AtomicBool,
    interval: Duration,
    count: Option<usize>,
    duration: Option<Duration>,
) {
    let began = Instant::now();
    let mut next = began;
    let mut checked = began;
    for n in 0.. {
        if stop.load(Ordering::Relaxed)
            || count.is_some_and(|c| n >= c)
            || duration.is_some_and(|d| began.elapsed() >= d)
        {
            break;
        }
        // Each sample proves the process alive; an exec is caught by the full check.
        let full_check = if checked.elapsed() >= IDENTITY_CHECK_EVERY {
            checked = Instant::now();
            sampler.process.check()
        } else {
            Ok(())
        };
        if let Err(e) = full_check.and_then(|()| take_sample(sampler, state)) {
            state.lock().unwrap_or_else(|p| p.into_inner()).error = Some(e);
            break;
        }
        next += interval;
        let mut now = Instant::now();
        if next <= now {
            next = now;
        }
        // Sleep in short steps so that a stop request is seen promptly.
        while now < next && !stop.load(Ordering::Relaxed) {
            std::thread::sleep((next - now).min(Duration::from_millis(20)));
            now = Instant::now();
        }
    }
}

/// Reads one row straight onto the history and records its timestamp and the pending label.
fn take_sample(sampler: &Sampler, state: &Mutex<Recording>) -> Result<()> {
    let ts = now_ns();
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    let st = &mut *st;
    let before = st.rows.len();
    match sampler.sample_into(&mut st.rows) {
        Ok(lost) => {
            st.timestamps_ns.push(ts);
            let label = st.pending_label.take();
            st.labels.push(label);
            st.unreadable.push(lost as u32);
            Ok(())
        }
        Err(e) => {
            st.rows.truncate(before);
            Err(e)
        }
    }
}
