//! memscan-core: scan and edit the memory of live processes.
//!
//! The crate has no Python in it. [`Process`] opens a process and reads and writes it exactly;
//! [`platform`] is the only module that talks to the operating system.
//!
//! Layers, lowest first; a module uses only modules of lower layers (checked by
//! `tests/project/test_architecture.py`):
//!
//! 1. `error`
//! 2. `value`, `region` (regions and the one [`region::RegionOptions`]), `pattern`
//! 3. `platform` (the OS: Linux today)
//! 4. `read`: where memory comes from ([`read::Source`]: live or image), chunk planning and
//!    parallel reads with progress and Ctrl-C, buffers, kept bytes (LZ4)
//! 5. `files` (hostile-file rules)
//! 6. `modules` (ELF objects, symbols, build ids)
//! 7. `image` (the image and core file formats, read as a [`read::Source`])
//! 8. `process` (live or image, one API)
//! 9. the features: `scan`, `pointer`, `analysis`, `save_image`, `edit`, `freeze`, `code`
//! 10. features built on `code`: `watch` (instructions behind hits), `address` (`sig:` terms),
//!     `structure` (what pointers in an object point at)
//! 11. `tables` (results as Arrow)

pub mod address;
pub mod analysis;
pub mod code;
pub mod edit;
pub mod error;
mod files;
pub mod freeze;
pub mod image;
pub mod modules;
mod pattern;
pub mod platform;
pub mod pointer;
pub mod process;
pub mod read;
pub mod region;
pub mod save_image;
pub mod scan;
pub mod structure;
pub mod tables;
pub mod value;
pub mod watch;

pub use address::Address;
pub use error::{Error, Result};
pub use files::create_private;
pub use pattern::BytePattern;
pub use platform::{ProcessInfo, SystemInfo};
pub use process::{find_processes, Process, ReadReport};
pub use region::{ModuleRef, Perms, Region, RegionKind};
pub use value::{Number, Scalar, Value, ValueType};
