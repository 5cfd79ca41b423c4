//! The guest's view of its e500v2 CPU: registers, the virtual MSR, and the Book E timers.
//!
//! While a guest runs, the real MSR is the hypervisor's choice (PR=1, IS=DS=1); the MSR
//! the guest believes it has lives here and only changes through emulated instructions
//! and reflected interrupts. Timers are virtual too: DEC is kept as a deadline in
//! timebase ticks and FIT/watchdog events are counted from timebase bit transitions, so
//! nothing here needs the hardware decrementer. The caller brings the timer state up to
//! date with [`VcpuState::update_timers`], programs the real decrementer for
//! [`VcpuState::next_timer_deadline`], and delivers [`VcpuState::pending_interrupt`].

use crate::guest_tlb::Mas;
use crate::reflect::Interrupt;

/// MSR bits the e500v2 implements (E500CORERM 2.5.1), 32-bit numbering: bit n is 1 << (31 - n).
pub mod msr {
    /// User cache locking enable (bit 5).
    pub const UCLE: u32 = 1 << 26;
    /// SPE available (bit 6).
    pub const SPE: u32 = 1 << 25;
    /// Wait state enable (bit 13).
    pub const WE: u32 = 1 << 18;
    /// Critical enable (bit 14): critical input and watchdog.
    pub const CE: u32 = 1 << 17;
    /// External enable (bit 16): external input, decrementer, FIT.
    pub const EE: u32 = 1 << 15;
    /// Problem state (bit 17).
    pub const PR: u32 = 1 << 14;
    /// Floating-point available (bit 18).
    pub const FP: u32 = 1 << 13;
    /// Machine check enable (bit 19).
    pub const ME: u32 = 1 << 12;
    pub const FE0: u32 = 1 << 11;
    /// Debug interrupt enable (bit 22).
    pub const DE: u32 = 1 << 9;
    pub const FE1: u32 = 1 << 8;
    /// Instruction address space (bit 26).
    pub const IS: u32 = 1 << 5;
    /// Data address space (bit 27).
    pub const DS: u32 = 1 << 4;
    /// Performance monitor mark (bit 29).
    pub const PMM: u32 = 1 << 2;
    /// Every implemented bit; writes (mtmsr, rfi) are masked to these.
    pub const IMPLEMENTED: u32 = UCLE | SPE | WE | CE | EE | PR | FP | ME | FE0 | DE | FE1 | IS | DS | PMM;
}

/// Timer status register bits (write-1-to-clear).
pub mod tsr {
    /// Enable next watchdog (bit 0).
    pub const ENW: u32 = 1 << 31;
    /// Watchdog interrupt status (bit 1).
    pub const WIS: u32 = 1 << 30;
    /// Watchdog reset status (bits 2-3).
    pub const WRS: u32 = 3 << 28;
    pub const WRS_SHIFT: u32 = 28;
    /// Decrementer interrupt status (bit 4).
    pub const DIS: u32 = 1 << 27;
    /// Fixed-interval timer interrupt status (bit 5).
    pub const FIS: u32 = 1 << 26;
    pub const IMPLEMENTED: u32 = ENW | WIS | WRS | DIS | FIS;
}

/// Timer control register fields (E500CORERM 2.6.1).
pub mod tcr {
    /// Watchdog period, low two bits of the 6-bit period (bits 0-1).
    pub const WP: u32 = 3 << 30;
    pub const WP_SHIFT: u32 = 30;
    /// Watchdog reset control (bits 2-3): once non-zero, software cannot change it.
    pub const WRC: u32 = 3 << 28;
    pub const WRC_SHIFT: u32 = 28;
    /// Watchdog interrupt enable (bit 4).
    pub const WIE: u32 = 1 << 27;
    /// Decrementer interrupt enable (bit 5).
    pub const DIE: u32 = 1 << 26;
    /// FIT period, low two bits (bits 6-7).
    pub const FP: u32 = 3 << 24;
    pub const FP_SHIFT: u32 = 24;
    /// FIT interrupt enable (bit 8).
    pub const FIE: u32 = 1 << 23;
    /// Decrementer auto-reload enable (bit 9).
    pub const ARE: u32 = 1 << 22;
    /// Watchdog period extension, high four bits (bits 11-14).
    pub const WPEXT: u32 = 0xF << 17;
    pub const WPEXT_SHIFT: u32 = 17;
    /// FIT period extension, high four bits (bits 15-18).
    pub const FPEXT: u32 = 0xF << 13;
    pub const FPEXT_SHIFT: u32 = 13;
    pub const IMPLEMENTED: u32 = WP | WRC | WIE | DIE | FP | FIE | ARE | WPEXT | FPEXT;
}

/// HID0 bits the emulator looks at.
pub mod hid0 {
    pub const DOZE: u32 = 1 << 23;
    pub const NAP: u32 = 1 << 22;
    pub const SLEEP: u32 = 1 << 21;
    /// Power-saving modes MSR[WE] can enter.
    pub const POWER_SAVE: u32 = DOZE | NAP | SLEEP;
    /// tlbre/tlbsx also update MAS7 (e500v2).
    pub const EN_MAS7_UPDATE: u32 = 1 << 7;
}

/// Cache and branch-unit control bits that complete immediately in the model.
pub mod cache {
    /// L1CSRn: cache enable.
    pub const L1CSR_CE: u32 = 1 << 0;
    /// L1CSRn: flash invalidate (self-clearing).
    pub const L1CSR_CFI: u32 = 1 << 1;
    /// L1CSRn: lock flash clear (self-clearing).
    pub const L1CSR_CLFC: u32 = 1 << 8;
    /// BUCSR: branch buffer flash invalidate (self-clearing).
    pub const BUCSR_BBFI: u32 = 1 << 9;
}

/// What the CPU reports about itself; fixed for a partition's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuModel {
    pub pvr: u32,
    pub svr: u32,
    pub mmucfg: u32,
    pub tlb0cfg: u32,
    pub tlb1cfg: u32,
    pub l1cfg0: u32,
    pub l1cfg1: u32,
}

impl CpuModel {
    /// e500v2 as QEMU's `e500v2` reports it, checked against E500CORERM:
    /// - PVR 0x8021_0022: e500v2 rev 2.2 (version 0x8021);
    /// - SVR 0: QEMU's plain e500v2 has no SoC, so its SVR reads zero;
    /// - MMUCFG 0x0048_19C4: RASIZE 36, NPIDS 3, PIDSIZE 7 (8-bit PIDs), NTLBS 1 (two TLBs);
    /// - TLB0CFG 0x0411_0200: 4-way, 4 KiB pages only, no IPROT, 512 entries;
    /// - TLB1CFG 0x101B_C010: fully associative (16), 4 KiB..4 GiB, IPROT, 16 entries.
    ///   QEMU advertises MAXSIZE 0xC; the manual's 4 GiB (0xB) is what the hardware
    ///   supports and the most a 32-bit EA can use;
    /// - L1CFG0/1 0x0000_3820: 8-way, 32 KiB, 32-byte lines.
    pub const E500V2: CpuModel = CpuModel {
        pvr: 0x8021_0022,
        svr: 0,
        mmucfg: 0x0048_19C4,
        tlb0cfg: 0x0411_0200,
        tlb1cfg: 0x101B_C010,
        l1cfg0: 0x0000_3820,
        l1cfg1: 0x0000_3820,
    };
}

impl Default for CpuModel {
    fn default() -> Self {
        CpuModel::E500V2
    }
}

/// The performance monitor registers, stored but never counting (see the docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfMonitor {
    pub pmc: [u32; 4],
    pub pmlca: [u32; 4],
    pub pmlcb: [u32; 4],
    pub pmgc0: u32,
}

/// The watchdog's third expiry with TCR[WRC] non-zero: the caller resets the partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchdogReset {
    /// TCR[WRC] = 01.
    Core,
    /// TCR[WRC] = 10.
    Chip,
    /// TCR[WRC] = 11.
    System,
}

/// Everything the guest can observe of its CPU.
///
/// `repr(C)`, with the user registers last, in the order of the trap frame
/// (`gpr`, `cr`, `lr`, `ctr`, `xer`, `pc` = `TrapFrame::srr0`): on PowerPC a trap saves
/// them straight into the vCPU's state (`guest.rs` checks the layout at compile time).
#[repr(C)]
#[derive(Clone, Debug)]
pub struct VcpuState {
    /// The virtual MSR, always masked to [`msr::IMPLEMENTED`].
    pub msr: u32,
    pub srr0: u32,
    pub srr1: u32,
    pub csrr0: u32,
    pub csrr1: u32,
    pub mcsrr0: u32,
    pub mcsrr1: u32,
    pub sprg: [u32; 8],
    pub usprg0: u32,
    pub esr: u32,
    pub dear: u32,
    pub ivpr: u32,
    /// IVOR0..IVOR15.
    pub ivor: [u32; 16],
    /// IVOR32..IVOR35.
    pub ivor_ext: [u32; 4],
    /// PID0..PID2 (8 bits each on e500).
    pub pid: [u32; 3],
    pub mas: Mas,
    pub mmucsr0: u32,
    pub dec_deadline: Option<u64>,
    pub decar: u32,
    pub tcr: u32,
    pub tsr: u32,
    pub hid0: u32,
    pub hid1: u32,
    pub l1csr0: u32,
    pub l1csr1: u32,
    pub bucsr: u32,
    pub dbcr: [u32; 3],
    pub dbsr: u32,
    pub iac: [u32; 2],
    pub dac: [u32; 2],
    pub mcsr: u32,
    pub mcar: u32,
    pub pir: u32,
    pub spefscr: u32,
    pub pmr: PerfMonitor,
    pub model: CpuModel,
    /// A virtual external (EE-gated) interrupt is asserted (set by the interrupt controller model).
    pub external_pending: bool,
    /// A virtual critical input (CE-gated) is asserted.
    pub critical_pending: bool,
    /// Timebase up to which FIT and watchdog transitions have been accounted.
    timers_checked_at: u64,
    /// The first FIT and watchdog events after `timers_checked_at` for TCR = `quiet_tcr`
    /// (`u64::MAX`: none), so that a decrementer event costs no 64-bit bit arithmetic.
    fit_edge: u64,
    watchdog_edge: u64,
    /// A watchdog reset that happened and the caller has not taken yet.
    watchdog_reset: Option<WatchdogReset>,
    /// No timer event can happen before this timebase while TCR and the DEC deadline
    /// keep the values below ([`Self::update_timers`]'s fast path; 0: unknown).
    quiet_until: u64,
    quiet_deadline: Option<u64>,
    /// (Placed here so the 37 register words below end the struct without padding.)
    quiet_tcr: u32,
    pub gpr: [u32; 32],
    pub cr: u32,
    pub lr: u32,
    pub ctr: u32,
    pub xer: u32,
    /// Address of the instruction the guest executes next (or the faulting one).
    pub pc: u32,
}

impl VcpuState {
    /// The reset state of core `pir` at `timebase` (timer events are counted from then).
    /// The caller sets `pc`, the GPRs and the initial TLB1 mapping per ePAPR. Caches are
    /// reported enabled, as firmware leaves them, so a guest does not try to
    /// flash-invalidate caches it shares.
    #[inline(never)]
    pub fn new(model: CpuModel, pir: u32, timebase: u64) -> Self {
        VcpuState {
            gpr: [0; 32],
            cr: 0,
            xer: 0,
            lr: 0,
            ctr: 0,
            pc: 0,
            msr: 0,
            srr0: 0,
            srr1: 0,
            csrr0: 0,
            csrr1: 0,
            mcsrr0: 0,
            mcsrr1: 0,
            sprg: [0; 8],
            usprg0: 0,
            esr: 0,
            dear: 0,
            ivpr: 0,
            ivor: [0; 16],
            ivor_ext: [0; 4],
            pid: [0; 3],
            mas: Mas::default(),
            mmucsr0: 0,
            dec_deadline: None,
            decar: 0,
            tcr: 0,
            tsr: 0,
            hid0: 0,
            hid1: 0,
            l1csr0: cache::L1CSR_CE,
            l1csr1: cache::L1CSR_CE,
            bucsr: 0,
            dbcr: [0; 3],
            dbsr: 0,
            iac: [0; 2],
            dac: [0; 2],
            mcsr: 0,
            mcar: 0,
            pir,
            spefscr: 0,
            pmr: PerfMonitor::default(),
            model,
            external_pending: false,
            critical_pending: false,
            timers_checked_at: timebase,
            fit_edge: next_edge(timebase, 63),
            watchdog_edge: next_edge(timebase, 63),
            watchdog_reset: None,
            quiet_until: 0,
            quiet_tcr: 0,
            quiet_deadline: None,
        }
    }

    /// The virtual MSR[PR]: the guest thinks it is in problem state.
    pub fn problem_state(&self) -> bool {
        self.msr & msr::PR != 0
    }

    /// GPR `n` (register fields are five bits, so this cannot go out of range; the mask
    /// keeps it that way for any caller).
    pub fn reg(&self, n: u8) -> u32 {
        self.gpr[usize::from(n & 31)]
    }

    pub fn set_reg(&mut self, n: u8, value: u32) {
        self.gpr[usize::from(n & 31)] = value;
    }

    /// `(RA|0)`: register `n`, or zero when `n` is 0.
    pub fn reg_or_zero(&self, n: u8) -> u32 {
        if n == 0 { 0 } else { self.reg(n) }
    }

    /// The DEC value the guest reads at `timebase`. DEC counts down at the timebase rate;
    /// on the decrement from 1 it is reloaded from DECAR when TCR[ARE]=1 (E500CORERM
    /// 2.6.5), otherwise it stops at 0. Pure: works whether or not the state is updated.
    pub fn dec_value(&self, timebase: u64) -> u32 {
        let Some(deadline) = self.dec_deadline else { return 0 };
        if timebase < deadline {
            return u32::try_from(deadline - timebase).unwrap_or(u32::MAX);
        }
        if self.tcr & tcr::ARE != 0 && self.decar != 0 {
            let period = u64::from(self.decar);
            let into_period = (timebase - deadline) % period;
            // At the event itself DEC holds DECAR; it then counts down to 1.
            (period - into_period) as u32
        } else {
            0
        }
    }

    /// mtspr DEC: a non-zero value starts counting down from the next tick; zero stops
    /// the decrementer without an event (E500CORERM 2.6.5).
    ///
    /// When no timer event was due at `timebase` ([`Self::timers_quiet`]) the quiet window
    /// moves with the deadline (TCR, and so the FIT and watchdog edges, stay as they were),
    /// so the next [`Self::update_timers`] does not take its slow path for this write.
    pub fn write_dec(&mut self, value: u32, timebase: u64) {
        let quiet = self.timers_quiet(timebase);
        self.dec_deadline = if value == 0 { None } else { Some(timebase.saturating_add(u64::from(value))) };
        if quiet {
            self.quiet_deadline = self.dec_deadline;
            self.quiet_until = self.dec_deadline.unwrap_or(u64::MAX).min(self.fit_edge).min(self.watchdog_edge);
        }
    }

    /// mtspr TCR at `timebase`. TCR[WRC] can be set once and never cleared by software
    /// (Book E watchdog reset control); the caller updates timers to `timebase` first so
    /// the old periods apply up to now.
    ///
    /// The new periods count from `timebase`: the FIT and watchdog edges are recomputed
    /// from `timers_checked_at`, which [`Self::update_timers`]' fast path leaves at the
    /// last slow update, so it is moved up to `timebase` here. (No event was due in
    /// between: the update before this write found none, so the cached edges stay the
    /// first ones after it.) Without this, edges of the new period bit between the last
    /// slow update and the write counted as events: watchdog time-outs came too early.
    /// A write that keeps TCR's value changes nothing at all (the Program vector
    /// finishes those itself).
    pub fn write_tcr(&mut self, value: u32, timebase: u64) {
        let mut new = value & tcr::IMPLEMENTED;
        if self.tcr & tcr::WRC != 0 {
            new = (new & !tcr::WRC) | (self.tcr & tcr::WRC);
        }
        if new != self.tcr {
            // The quiet window stays valid if the periods are kept (it is made of the edges
            // and the DEC deadline, which enables, ARE and WRC do not move; see `edges`).
            if (new ^ self.tcr) & TCR_PERIODS == 0 && self.tcr == self.quiet_tcr {
                self.quiet_tcr = new;
            }
            self.tcr = new;
            self.timers_checked_at = self.timers_checked_at.max(timebase);
        }
    }

    /// Accounts every timer event up to `timebase`: DEC expiry (TSR[DIS], auto-reload),
    /// FIT (TSR[FIS]) and watchdog (TSR[ENW] → TSR[WIS] → reset per TCR[WRC]).
    /// Returns a watchdog reset if one happens now (it also stays available from
    /// [`VcpuState::take_watchdog_reset`]).
    ///
    /// Runs on every emulated instruction, so it first checks whether any event is
    /// possible at all: before `quiet_until` (the earliest DEC deadline, FIT or watchdog
    /// edge, computed at the last full update) with TCR and DEC unchanged since, none is.
    #[inline]
    pub fn update_timers(&mut self, timebase: u64) -> Option<WatchdogReset> {
        if self.timers_quiet(timebase) {
            return self.watchdog_reset;
        }
        self.update_timers_slow(timebase)
    }

    /// No timer event is due at `timebase`: [`Self::update_timers`] would change nothing.
    /// The Program vector's assembly makes the same check (`trap/program.rs`, with the
    /// offsets in [`layout`]) before it reads a timer SPR.
    #[inline(always)]
    pub fn timers_quiet(&self, timebase: u64) -> bool {
        timebase < self.quiet_until && self.tcr == self.quiet_tcr && self.dec_deadline == self.quiet_deadline
    }

    /// [`Self::update_timers`] when an event may be due: out of line, so the check above
    /// costs no register saves.
    #[inline(never)]
    fn update_timers_slow(&mut self, timebase: u64) -> Option<WatchdogReset> {
        (self.fit_edge, self.watchdog_edge) = self.edges();
        if let Some(deadline) = self.dec_deadline {
            if deadline <= timebase {
                self.tsr |= tsr::DIS;
                self.dec_deadline = if self.tcr & tcr::ARE != 0 && self.decar != 0 {
                    let period = u64::from(self.decar);
                    // Late by less than a period (the usual case): no 64-bit division.
                    let late = timebase - deadline;
                    let periods = if late < period { 1 } else { late / period + 1 };
                    deadline.checked_add(periods.saturating_mul(period))
                } else {
                    None
                };
            }
        }
        let from = self.timers_checked_at;
        if timebase > from {
            // An edge after `from` at or before `timebase`: at least one event.
            if self.fit_edge <= timebase {
                self.tsr |= tsr::FIS;
                self.fit_edge = next_edge(timebase, self.fit_bit());
            }
            if self.watchdog_edge <= timebase {
                // Three time-outs take the state machine to its end.
                let expiries = rising_edges(from, timebase, self.watchdog_bit()).min(3) as u32;
                for _ in 0..expiries {
                    self.watchdog_expiry();
                }
                self.watchdog_edge = next_edge(timebase, self.watchdog_bit());
            }
            self.timers_checked_at = timebase;
        }
        self.quiet_until = self.dec_deadline.unwrap_or(u64::MAX).min(self.fit_edge).min(self.watchdog_edge);
        self.quiet_tcr = self.tcr;
        self.quiet_deadline = self.dec_deadline;
        self.watchdog_reset
    }

    /// The first FIT and watchdog events after `timers_checked_at` under the current TCR
    /// (`u64::MAX`: none): the cached ones unless TCR's periods changed since they were
    /// computed (the edges are of the timebase bits FP/FPEXT and WP/WPEXT select; enables,
    /// ARE and WRC do not move them).
    pub(crate) fn edges(&self) -> (u64, u64) {
        if (self.tcr ^ self.quiet_tcr) & TCR_PERIODS == 0 {
            return (self.fit_edge, self.watchdog_edge);
        }
        let after = self.timers_checked_at;
        (next_edge(after, self.fit_bit()), next_edge(after, self.watchdog_bit()))
    }

    /// One watchdog time-out, Book E's state machine: first ENW, then WIS, then the
    /// reset TCR[WRC] selects (none when WRC = 0).
    fn watchdog_expiry(&mut self) {
        if self.tsr & tsr::ENW == 0 {
            self.tsr |= tsr::ENW;
        } else if self.tsr & tsr::WIS == 0 {
            self.tsr |= tsr::WIS;
        } else {
            let wrc = (self.tcr & tcr::WRC) >> tcr::WRC_SHIFT;
            let reset = match wrc {
                1 => WatchdogReset::Core,
                2 => WatchdogReset::Chip,
                3 => WatchdogReset::System,
                _ => return,
            };
            self.tsr = (self.tsr & !tsr::WRS) | (wrc << tsr::WRS_SHIFT);
            self.watchdog_reset.get_or_insert(reset);
        }
    }

    /// Hands a pending watchdog reset to the caller (once).
    pub fn take_watchdog_reset(&mut self) -> Option<WatchdogReset> {
        self.watchdog_reset.take()
    }

    /// Timebase bit (counted from the LSB) whose 0→1 transitions are FIT events:
    /// TCR[FPEXT] || TCR[FP] numbers the bit from the MSB (E500CORERM 2.6.1).
    fn fit_bit(&self) -> u32 {
        let period = ((self.tcr & tcr::FPEXT) >> tcr::FPEXT_SHIFT) << 2 | (self.tcr & tcr::FP) >> tcr::FP_SHIFT;
        63 - period
    }

    /// As [`Self::fit_bit`] for TCR[WPEXT] || TCR[WP].
    fn watchdog_bit(&self) -> u32 {
        let period = ((self.tcr & tcr::WPEXT) >> tcr::WPEXT_SHIFT) << 2 | (self.tcr & tcr::WP) >> tcr::WP_SHIFT;
        63 - period
    }

    /// The earliest timebase at which a timer event could raise an interrupt or a reset
    /// the guest has enabled; `None` if no timer can. Call after [`Self::update_timers`].
    pub fn next_timer_deadline(&self) -> Option<u64> {
        // u64::MAX stands for "never" (the end of the timebase's range counts as never).
        let mut next = match self.dec_deadline {
            Some(d) if self.tcr & tcr::DIE != 0 && self.tsr & tsr::DIS == 0 => d,
            _ => u64::MAX,
        };
        let (fit, watchdog) = self.edges();
        if self.tcr & tcr::FIE != 0 && self.tsr & tsr::FIS == 0 {
            next = next.min(fit);
        }
        // A watchdog time-out matters while it can still raise the interrupt (WIS clear:
        // it sets ENW, then WIS) or, with WRC set, step towards the reset. With WIS
        // pending and WRC = 0 further time-outs change nothing: no physical timer for them.
        let watchdog_interrupt = self.tcr & tcr::WIE != 0 && self.tsr & tsr::WIS == 0;
        if watchdog_interrupt || self.tcr & tcr::WRC != 0 {
            next = next.min(watchdog);
        }
        (next != u64::MAX).then_some(next)
    }

    /// The MSR bits that, set, let an asynchronous interrupt in now: CE while a critical
    /// input or an enabled watchdog interrupt is pending, EE while an external input or an
    /// enabled FIT or decrementer interrupt is. `msr & wake_mask() != 0` exactly when
    /// [`Self::pending_interrupt`] is `Some`; it does not depend on the MSR, so a fast
    /// path that only changes the MSR can test a copy taken before.
    pub fn wake_mask(&self) -> u32 {
        let critical = self.critical_pending || (self.tsr & tsr::WIS != 0 && self.tcr & tcr::WIE != 0);
        let external = self.external_pending
            || (self.tsr & tsr::FIS != 0 && self.tcr & tcr::FIE != 0)
            || (self.tsr & tsr::DIS != 0 && self.tcr & tcr::DIE != 0);
        (if critical { msr::CE } else { 0 }) | (if external { msr::EE } else { 0 })
    }

    /// The asynchronous interrupt the guest takes now, if any, in Book E priority order
    /// (critical input, watchdog, external input, FIT, decrementer). MSR[CE] gates the
    /// critical ones and MSR[EE] the others; the timers also need their TCR enable.
    pub fn pending_interrupt(&self) -> Option<Interrupt> {
        let ce = self.msr & msr::CE != 0;
        let ee = self.msr & msr::EE != 0;
        if ce && self.critical_pending {
            return Some(Interrupt::CriticalInput);
        }
        if ce && self.tsr & tsr::WIS != 0 && self.tcr & tcr::WIE != 0 {
            return Some(Interrupt::Watchdog);
        }
        if !ee {
            return None;
        }
        if self.external_pending {
            Some(Interrupt::External)
        } else if self.tsr & tsr::FIS != 0 && self.tcr & tcr::FIE != 0 {
            Some(Interrupt::FixedIntervalTimer)
        } else if self.tsr & tsr::DIS != 0 && self.tcr & tcr::DIE != 0 {
            Some(Interrupt::Decrementer)
        } else {
            None
        }
    }
}

/// Where the Program vector's assembly finds the timer state in a [`VcpuState`]
/// (`trap/program.rs`): byte offsets of the `u64`s (big-endian word pairs) and of the
/// `Option<u64>`s, whose tag is the big-endian integer in their first eight bytes (0
/// `None`, 1 `Some`; the vector reads its last byte) and whose value is their last eight
/// bytes (checked below at compile time for the PowerPC target).
// Used by the PowerPC assembly only.
#[cfg_attr(not(target_arch = "powerpc"), allow(dead_code))]
pub(crate) mod layout {
    use super::VcpuState;
    use core::mem::offset_of;

    pub const QUIET_UNTIL: usize = offset_of!(VcpuState, quiet_until);
    pub const QUIET_TCR: usize = offset_of!(VcpuState, quiet_tcr);
    pub const QUIET_DEADLINE: usize = offset_of!(VcpuState, quiet_deadline);
    pub const DEC_DEADLINE: usize = offset_of!(VcpuState, dec_deadline);
    pub const TCR: usize = offset_of!(VcpuState, tcr);
    pub const TSR: usize = offset_of!(VcpuState, tsr);
    pub const FIT_EDGE: usize = offset_of!(VcpuState, fit_edge);
    pub const WATCHDOG_EDGE: usize = offset_of!(VcpuState, watchdog_edge);
    /// Offsets of an `Option<u64>`'s tag byte and of its value.
    pub const OPTION_TAG: usize = 7;
    pub const OPTION_VALUE: usize = 8;

    #[cfg(target_arch = "powerpc")]
    const _: () = {
        use core::mem::{size_of, transmute, MaybeUninit};
        const fn bytes(v: Option<u64>) -> [MaybeUninit<u8>; 16] {
            // SAFETY: same size (asserted below); MaybeUninit bytes may hold padding.
            unsafe { transmute(v) }
        }
        assert!(size_of::<Option<u64>>() == 16);
        let (some, none) = (bytes(Some(0x0102_0304_0506_0708)), bytes(None));
        // SAFETY: the tag byte and the value bytes are initialised in these values.
        unsafe {
            // The tag is the big-endian integer in the first eight bytes (all of them
            // initialised): the vector writes an Option<u64> as two words 0, 0/1 and the value.
            let mut i = 0;
            while i < OPTION_TAG {
                assert!(some[i].assume_init() == 0 && none[i].assume_init() == 0);
                i += 1;
            }
            assert!(some[OPTION_TAG].assume_init() == 1 && none[OPTION_TAG].assume_init() == 0);
            let mut i = 0;
            while i < 8 {
                assert!(some[OPTION_VALUE + i].assume_init() == i as u8 + 1);
                i += 1;
            }
        }
    };
}

/// Number of 0→1 transitions of timebase bit `bit` (0 = LSB) in `(from, to]`. The bit
/// rises at every value congruent to 2^bit modulo 2^(bit+1), so up to `x` there are
/// ceil((x >> bit) / 2) rises. Plain u64 arithmetic: this runs on every emulated
/// instruction (u128 division is a long software routine on a 32-bit core).
fn rising_edges(from: u64, to: u64, bit: u32) -> u64 {
    if to <= from {
        return 0;
    }
    let count = |x: u64| {
        let y = x >> bit;
        (y >> 1) + (y & 1)
    };
    count(to) - count(from)
}

/// [`next_rising_edge`], `u64::MAX` for none.
/// The TCR fields the FIT and watchdog edges depend on.
const TCR_PERIODS: u32 = tcr::FP | tcr::FPEXT | tcr::WP | tcr::WPEXT;

#[inline(never)]
fn next_edge(after: u64, bit: u32) -> u64 {
    next_rising_edge(after, bit).unwrap_or(u64::MAX)
}

/// The first timebase value after `after` at which bit `bit` rises; `None` past 2^64.
fn next_rising_edge(after: u64, bit: u32) -> Option<u64> {
    let half = 1u64 << bit;
    // Bits 0..=bit; all ones for bit 63 (the shift wraps to 0).
    let low = half.wrapping_shl(1).wrapping_sub(1);
    let base = after & !low;
    let edge = base | half;
    if edge > after {
        Some(edge)
    } else {
        base.checked_add(low)?.checked_add(1)?.checked_add(half)
    }
}

#[cfg(test)]
mod tests;
