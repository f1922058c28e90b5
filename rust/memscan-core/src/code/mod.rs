//! Code that survives updates: disassembly, references, byte signatures that find an
//! instruction again in another build, and reversible patches written with every thread
//! stopped.

mod assemble;
mod disassembly;
mod instruction;
mod patch;
mod place;
mod references;
mod segments;
mod signature;

pub use assemble::assemble;
pub use disassembly::{disassemble, Line};
pub use instruction::{
    bitness, decode_at, decode_before, effective_address, intel_formatter, Decoded, Source, MAX_LEN,
};
pub use patch::{Patch, PatchOptions};
pub use place::{Place, Places};
pub use references::{references, Reference, ReferenceKind};
pub use segments::CodeSegments;
pub use signature::{find_signature, signature, signature_across, Signature, SignatureOptions};
