//! Freezing: a background thread that keeps writing chosen values until stopped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::platform;

/// Holds values at addresses of one process by rewriting them every `interval`.
/// Dropping the freezer stops it.
pub struct Freezer {
    entries: Arc<Mutex<BTreeMap<u64, Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    writes: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Freezer {
    /// Starts the writer thread for `pid` (idle until values are added).
    pub fn start(pid: i32, interval: Duration) -> Self {
        let entries: Arc<Mutex<BTreeMap<u64, Vec<u8>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(AtomicU64::new(0));
        let (e, s, w) = (entries.clone(), stop.clone(), writes.clone());
        let thread = std::thread::Builder::new()
            .name("memscan-freeze".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    let (ranges, data): (Vec<(u64, usize)>, Vec<u8>) = {
                        let map = e.lock().unwrap_or_else(|p| p.into_inner());
                        (
                            map.iter().map(|(a, b)| (*a, b.len())).collect(),
                            map.values().flatten().copied().collect(),
                        )
                    };
                    if !ranges.is_empty() {
                        match platform::write_vectored(pid, &ranges, &data) {
                            Ok(_) => {
                                w.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => break, // the process is gone or no longer ours
                        }
                    }
                    std::thread::sleep(interval);
                }
            })
            .expect("spawning the freeze thread");
        Self {
            entries,
            stop,
            writes,
            thread: Some(thread),
        }
    }

    /// Holds `bytes` at each address (replacing an earlier value there).
    pub fn hold(&self, addresses: &[u64], bytes: &[u8]) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for &a in addresses {
            map.insert(a, bytes.to_vec());
        }
    }

    /// Releases these addresses (all when `None`).
    pub fn release(&self, addresses: Option<&[u64]>) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match addresses {
            None => map.clear(),
            Some(a) => a.iter().for_each(|x| {
                map.remove(x);
            }),
        }
    }

    /// The frozen addresses and their bytes.
    pub fn frozen(&self) -> Vec<(u64, Vec<u8>)> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(a, b)| (*a, b.clone())).collect()
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
