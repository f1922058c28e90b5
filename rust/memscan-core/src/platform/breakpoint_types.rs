//! What a watchpoint is, on every OS: its kind, its spec, and the hits it records.

/// What a breakpoint fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakpointKind {
    /// Writes to the watched bytes.
    Write,
    /// Reads or writes (x86 has no read-only data breakpoints).
    Access,
    /// Execution of the instruction at the address.
    Execute,
}

/// One breakpoint: `len` bytes at `address` (1, 2, 4 or 8, aligned to `len`; `Execute` ignores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakpointSpec {
    pub address: u64,
    pub len: u64,
    pub kind: BreakpointKind,
}

/// The user registers sampled with every hit, in sample order (`PERF_REG_X86_*` numbering
/// without the segment registers, which x86-64 does not sample).
#[cfg(target_arch = "x86_64")]
pub const SAMPLED_REGISTERS: [&str; 18] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "rip", "rflags", "r8", "r9", "r10",
    "r11", "r12", "r13", "r14", "r15",
];
#[cfg(not(target_arch = "x86_64"))]
pub const SAMPLED_REGISTERS: [&str; 0] = [];

/// Number of sampled registers.
pub const REGISTERS: usize = SAMPLED_REGISTERS.len();

/// One hit as the kernel sampled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// The id of the breakpoint that fired (inherited copies report their parent's id).
    pub id: u64,
    pub tid: u32,
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub time_ns: u64,
    /// The user instruction pointer: after the accessing instruction for data breakpoints, at
    /// the instruction for execute breakpoints.
    pub ip: u64,
    /// The user registers in [`SAMPLED_REGISTERS`] order, or `None` if the kernel gave none.
    pub registers: Option<[u64; REGISTERS]>,
}

/// A record read from a ring buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    Sample(Sample),
    /// The ring was full: this many samples were dropped.
    Lost(u64),
    /// The kernel throttled the event (too many samples per second); samples are dropped until
    /// it unthrottles.
    Throttled,
    /// A watched thread created thread `tid`, which inherited the breakpoints.
    Forked {
        tid: u32,
    },
}
