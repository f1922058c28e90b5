//! The native demo game: a target whose state lives in this extension's own memory and is
//! written by its own code, so no compiler is needed to show module+offset addresses, pointer
//! chains and watchpoints (`memscan.demo.start(native=True)` runs it in a child process).
//!
//! `SCORE` and `WORLD` are statics in the module's `.bss`; the world and the player are heap
//! objects (behind decoy allocations of random sizes, so that heap addresses differ on every
//! start): `WORLD -> world.player -> player.health` is a pointer chain from the module.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::hint::black_box;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

use memscan_core::Error;
use pyo3::prelude::*;

use crate::errors::IntoPyResult;

/// The score: a global, zero (in `.bss`) until the game starts.
static SCORE: AtomicU32 = AtomicU32::new(0);
/// The chain's static base: the world, on the heap.
static WORLD: OnceLock<&'static World> = OnceLock::new();

#[repr(C)]
struct World {
    ticks: AtomicU64,
    player: Box<Player>,
}

#[repr(C)]
struct Player {
    level: AtomicU32,
    max_health: AtomicI32,
    health: AtomicI32,
    gold: AtomicU32,
}

/// One field as the demo target reports it: name, value type, address, size, value.
type Field = (&'static str, &'static str, usize, usize, i128);

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let mut random = RandomState::new().build_hasher();
        random.write_u32(std::process::id());
        let seed = random.finish();
        decoys(seed);
        let player = Box::new(Player {
            level: AtomicU32::new(7),
            max_health: AtomicI32::new(100),
            health: AtomicI32::new(100),
            gold: AtomicU32::new(250),
        });
        decoys(seed >> 32);
        SCORE.store(1_234_567, Relaxed);
        Box::leak(Box::new(World {
            ticks: AtomicU64::new(0),
            player,
        }))
    })
}

/// Leaks up to 63 allocations of 16 to 4,111 bytes chosen by `seed`.
fn decoys(seed: u64) {
    for i in 0..seed % 64 {
        let size = 16 + (seed.rotate_left(i as u32 * 7) % 4096) as usize;
        black_box(vec![0u8; size].leak());
    }
}

fn address<T>(field: &T) -> usize {
    std::ptr::from_ref(field) as usize
}

fn fields(w: &'static World) -> [Field; 6] {
    let p = &*w.player;
    [
        (
            "health",
            "i32",
            address(&p.health),
            4,
            p.health.load(Relaxed).into(),
        ),
        (
            "max_health",
            "i32",
            address(&p.max_health),
            4,
            p.max_health.load(Relaxed).into(),
        ),
        (
            "gold",
            "u32",
            address(&p.gold),
            4,
            p.gold.load(Relaxed).into(),
        ),
        (
            "level",
            "u32",
            address(&p.level),
            4,
            p.level.load(Relaxed).into(),
        ),
        (
            "ticks",
            "u64",
            address(&w.ticks),
            8,
            w.ticks.load(Relaxed).into(),
        ),
        (
            "score",
            "u32",
            address(&SCORE),
            4,
            SCORE.load(Relaxed).into(),
        ),
    ]
}

fn amount<T: TryFrom<i64>>(op: &str, n: i64) -> PyResult<T> {
    T::try_from(n)
        .map_err(|_| Error::InvalidArgument(format!("{op}: {n} is out of range")))
        .py()
}

/// Starts the native demo game in this process (once) and applies one action: `get`,
/// `damage` (health -= n), `heal`, `gold` (gold += n), `spend` (gold -= n) or `tick`
/// (ticks += n). Returns every field: (name, type, address, size, value).
#[pyfunction]
#[pyo3(signature = (op, n = 1))]
pub fn demo_game(op: &str, n: i64) -> PyResult<[Field; 6]> {
    let w = world();
    let p = &*w.player;
    match op {
        "get" => {}
        "damage" => {
            p.health.fetch_sub(amount(op, n)?, Relaxed);
        }
        "heal" => p.health.store(p.max_health.load(Relaxed), Relaxed),
        "gold" => {
            p.gold.fetch_add(amount(op, n)?, Relaxed);
        }
        "spend" => {
            p.gold.fetch_sub(amount(op, n)?, Relaxed);
        }
        "tick" => {
            w.ticks.fetch_add(amount(op, n)?, Relaxed);
        }
        _ => {
            return Err(Error::InvalidArgument(format!(
                "unknown demo game action {op:?}"
            )))
            .py()
        }
    }
    Ok(fields(w))
}

/// Sets one field of the native demo game to `value` (exact in the field's type).
#[pyfunction]
pub fn demo_game_set(field: &str, value: i128) -> PyResult<[Field; 6]> {
    fn exact<T: TryFrom<i128>>(field: &str, value: i128) -> PyResult<T> {
        T::try_from(value)
            .map_err(|_| Error::InvalidValue(format!("{value} does not fit {field}")))
            .py()
    }
    let w = world();
    let p = &*w.player;
    match field {
        "health" => p.health.store(exact(field, value)?, Relaxed),
        "max_health" => p.max_health.store(exact(field, value)?, Relaxed),
        "gold" => p.gold.store(exact(field, value)?, Relaxed),
        "level" => p.level.store(exact(field, value)?, Relaxed),
        "ticks" => w.ticks.store(exact(field, value)?, Relaxed),
        "score" => SCORE.store(exact(field, value)?, Relaxed),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "no demo game field {field:?}"
            )))
            .py()
        }
    }
    Ok(fields(w))
}

/// Adds the demo game's functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(demo_game, m)?)?;
    m.add_function(wrap_pyfunction!(demo_game_set, m)?)
}
