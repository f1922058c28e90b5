//! Structures: the reads that dissecting and comparing objects need. Many instances of one size
//! read in one vectored pass ([`read_instances`]), and what pointer values point at
//! ([`pointees`]: region kind, symbol, text, function tables, heap block sizes). The inference
//! itself works on those columns (`memscan.structures` in Python).

mod instances;
mod pointee;

pub use instances::{read_instances, Instances, MAX_INSTANCE_BYTES};
pub use pointee::{pointees, Pointee};
