//! SPR and PMR numbers of the virtual e500v2 CPU, declared once for the emulator.
//!
//! Numbers are from the e500 core reference manual (E500CORERM rev. 1, table 2-2 "SPR
//! summary" and chapter 7 for the PMRs) and Power ISA 2.06 Book III-E. Book E makes every
//! SPR whose number has bit 0x10 set supervisor-only ([`is_privileged`]): that is the bit
//! the hardware checks before it raises a Program interrupt with ESR[PPR], so it is also
//! the bit the emulator checks when the guest's *virtual* MSR[PR] is 1.
//!
//! `spr.rs` (hardware accessors) keeps its own numbers for the registers the hypervisor
//! itself touches; this file is the guest's view and lists every register the emulator
//! models, including ones the hypervisor never programs.

// Branch and fixed-point (user-level; they never trap, but the emulator accepts them).
pub const XER: u16 = 1;
pub const LR: u16 = 8;
pub const CTR: u16 = 9;

// Timers.
pub const DEC: u16 = 22;
/// Write-only in E500CORERM table 2-2.
pub const DECAR: u16 = 54;
/// Time base, user read side.
pub const TBL_READ: u16 = 268;
pub const TBU_READ: u16 = 269;
/// Time base, supervisor write side.
pub const TBL_WRITE: u16 = 284;
pub const TBU_WRITE: u16 = 285;
pub const TSR: u16 = 336;
pub const TCR: u16 = 340;

// Interrupt handling.
pub const SRR0: u16 = 26;
pub const SRR1: u16 = 27;
pub const CSRR0: u16 = 58;
pub const CSRR1: u16 = 59;
pub const DEAR: u16 = 61;
pub const ESR: u16 = 62;
pub const IVPR: u16 = 63;
/// IVOR0..IVOR15 are 400..415.
pub const IVOR0: u16 = 400;
pub const IVOR15: u16 = 415;
/// IVOR32..IVOR35 (SPE unavailable, SPE data, SPE round, performance monitor) are 528..531.
pub const IVOR32: u16 = 528;
pub const IVOR35: u16 = 531;
pub const MCSRR0: u16 = 570;
pub const MCSRR1: u16 = 571;
pub const MCSR: u16 = 572;
pub const MCAR: u16 = 573;

// Software scratch.
pub const USPRG0: u16 = 256;
/// SPRG3 read alias for problem state.
pub const SPRG3_READ: u16 = 259;
/// SPRG4..7 read aliases for problem state: 260..263.
pub const SPRG4_READ: u16 = 260;
pub const SPRG7_READ: u16 = 263;
/// SPRG0..SPRG7 (supervisor read/write) are 272..279.
pub const SPRG0: u16 = 272;
pub const SPRG7: u16 = 279;

// Identification and configuration (read-only).
pub const PIR: u16 = 286;
pub const PVR: u16 = 287;
pub const SVR: u16 = 1023;
pub const L1CFG0: u16 = 515;
pub const L1CFG1: u16 = 516;
pub const TLB0CFG: u16 = 688;
pub const TLB1CFG: u16 = 689;
pub const MMUCFG: u16 = 1015;

// Implementation registers.
pub const HID0: u16 = 1008;
pub const HID1: u16 = 1009;
pub const L1CSR0: u16 = 1010;
pub const L1CSR1: u16 = 1011;
pub const BUCSR: u16 = 1013;
pub const SPEFSCR: u16 = 512;

// MMU.
pub const PID0: u16 = 48;
pub const PID1: u16 = 633;
pub const PID2: u16 = 634;
pub const MAS0: u16 = 624;
pub const MAS1: u16 = 625;
pub const MAS2: u16 = 626;
pub const MAS3: u16 = 627;
pub const MAS4: u16 = 628;
pub const MAS6: u16 = 630;
pub const MAS7: u16 = 944;
pub const MMUCSR0: u16 = 1012;

// Debug.
pub const DBSR: u16 = 304;
pub const DBCR0: u16 = 308;
pub const DBCR1: u16 = 309;
pub const DBCR2: u16 = 310;
pub const IAC1: u16 = 312;
pub const IAC2: u16 = 313;
pub const DAC1: u16 = 316;
pub const DAC2: u16 = 317;

/// Performance monitor registers (`mfpmr`/`mtpmr`, E500CORERM chapter 7). The user-level
/// numbers (bit 0x10 clear) are read-only aliases of the supervisor ones.
pub mod pmr {
    /// PMC0..PMC3 are 16..19; UPMC0..3 are 0..3.
    pub const PMC0: u16 = 16;
    pub const UPMC0: u16 = 0;
    /// PMLCa0..3 are 144..147; UPMLCa0..3 are 128..131.
    pub const PMLCA0: u16 = 144;
    pub const UPMLCA0: u16 = 128;
    /// PMLCb0..3 are 272..275; UPMLCb0..3 are 256..259.
    pub const PMLCB0: u16 = 272;
    pub const UPMLCB0: u16 = 256;
    pub const PMGC0: u16 = 400;
    pub const UPMGC0: u16 = 384;
}

/// Book E: SPR (and PMR) numbers with bit 0x10 set may only be used in supervisor state.
pub const fn is_privileged(number: u16) -> bool {
    number & 0x10 != 0
}
