//! memscan-core: scan and edit the memory of live processes.
//!
//! The crate has no Python in it. [`Process`] opens a process and reads and writes it exactly;
//! [`platform`] is the only module that talks to the operating system.

pub mod address;
pub mod analysis;
pub mod edit;
pub mod error;
pub mod files;
pub mod freeze;
pub mod image;
pub mod mem;
pub mod modules;
pub mod pack;
pub mod pattern;
pub mod platform;
pub mod pointer;
pub mod process;
pub mod region;
pub mod scan;
pub mod tables;
pub mod value;
pub mod watch;

pub use address::Address;
pub use error::{Error, Result};
pub use pattern::BytePattern;
pub use platform::{ProcessInfo, SystemInfo};
pub use process::{find_processes, Process, ReadReport};
pub use region::{ModuleRef, Perms, Region, RegionKind};
pub use value::{Number, Scalar, Value, ValueType};
