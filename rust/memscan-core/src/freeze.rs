//! Freezing: a background thread that keeps writing chosen values until stopped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::platform;
use crate::process::Process;

/// What the writer thread shares with its owner.
#[derive(Default)]
struct Held {
    /// Address → bytes held there.
    entries: BTreeMap<u64, Vec<u8>>,
    /// Addresses that could no longer be written, with the reason; no longer held.
    lost: BTreeMap<u64, String>,
    /// Why the thread stopped on its own (the process exited or changed), if it did.
    stopped: Option<String>,
}

/// Holds values at addresses of one process by rewriting them every `interval`. An address that
/// becomes unwritable (unmapped, protected) is dropped and reported by [`Freezer::lost`]; the
/// others stay held. The thread stops when the process exits, changes pid owner or runs `exec`.
/// Dropping the freezer stops it.
pub struct Freezer {
    held: Arc<Mutex<Held>>,
    stop: Arc<AtomicBool>,
    writes: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

fn lock(held: &Mutex<Held>) -> MutexGuard<'_, Held> {
    held.lock().unwrap_or_else(|p| p.into_inner())
}

impl Freezer {
    /// Starts the writer thread for `process` (idle until values are added).
    pub fn start(process: Process, interval: Duration) -> Self {
        let held: Arc<Mutex<Held>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(AtomicU64::new(0));
        let (h, s, w) = (held.clone(), stop.clone(), writes.clone());
        let thread = std::thread::Builder::new()
            .name("memscan-freeze".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    if let Err(e) = process.check() {
                        lock(&h).stopped = Some(e.to_string());
                        break;
                    }
                    write_round(&process, &h);
                    w.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(interval);
                }
            })
            .expect("spawning the freeze thread");
        Self {
            held,
            stop,
            writes,
            thread: Some(thread),
        }
    }

    /// Holds `bytes` at each address (replacing an earlier value there).
    pub fn hold(&self, addresses: &[u64], bytes: &[u8]) {
        let mut h = lock(&self.held);
        for &a in addresses {
            h.lost.remove(&a);
            h.entries.insert(a, bytes.to_vec());
        }
    }

    /// Releases these addresses (all when `None`).
    pub fn release(&self, addresses: Option<&[u64]>) {
        let mut h = lock(&self.held);
        match addresses {
            None => {
                h.entries.clear();
                h.lost.clear();
            }
            Some(a) => a.iter().for_each(|x| {
                h.entries.remove(x);
                h.lost.remove(x);
            }),
        }
    }

    /// The addresses held and their bytes (empty once the thread has stopped on its own).
    pub fn frozen(&self) -> Vec<(u64, Vec<u8>)> {
        let h = lock(&self.held);
        if h.stopped.is_some() {
            return Vec::new();
        }
        h.entries.iter().map(|(a, b)| (*a, b.clone())).collect()
    }

    /// Addresses dropped because they could no longer be written, with the reason.
    pub fn lost(&self) -> Vec<(u64, String)> {
        lock(&self.held)
            .lost
            .iter()
            .map(|(a, r)| (*a, r.clone()))
            .collect()
    }

    /// Why the thread stopped on its own (the process exited or changed), if it did.
    pub fn stopped(&self) -> Option<String> {
        lock(&self.held).stopped.clone()
    }

    /// Rounds of writes done so far.
    pub fn write_rounds(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// True while the writer thread runs.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the writer thread and waits for it.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Freezer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes every held value: all in one vectored write when it goes through; otherwise value by
/// value, dropping (and reporting) those that cannot be written.
fn write_round(process: &Process, held: &Mutex<Held>) {
    let (ranges, data): (Vec<(u64, usize)>, Vec<u8>) = {
        let h = lock(held);
        (
            h.entries.iter().map(|(a, b)| (*a, b.len())).collect(),
            h.entries.values().flatten().copied().collect(),
        )
    };
    if ranges.is_empty() {
        return;
    }
    let pid = process.pid();
    if matches!(platform::write_vectored(pid, &ranges, &data), Ok(n) if n == data.len()) {
        return;
    }
    // A short write stops at the first value that failed: find every one that fails.
    let mut lost = Vec::new();
    let mut at = 0;
    for &(addr, len) in &ranges {
        match platform::write_memory(pid, addr, &data[at..at + len]) {
            Ok(n) if n == len => {}
            Ok(_) => lost.push((addr, "no longer mapped writable".to_owned())),
            Err(e) => lost.push((addr, e.to_string())),
        }
        at += len;
    }
    let mut h = lock(held);
    for (addr, why) in lost {
        h.entries.remove(&addr);
        h.lost.insert(addr, why);
    }
}
