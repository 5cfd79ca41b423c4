//! Decoding a guest's trap: what the port finishes itself, and what becomes an
//! [`Exit`] for the core (`hv::run`).
//!
//! By IVOR:
//! - Program with ESR[PPR]: the privileged instruction at SRR0 (fetched through the guest's
//!   translation) goes to [`emulate`]; its outcome is applied here (shadow TLB drops, timer
//!   re-arm, idle). Illegal, trap and unimplemented program interrupts are the guest's own:
//!   reflected to its IVOR6.
//! - System call: `sc 1` (LEV = 1, read from the instruction at SRR0 - 4) in virtual
//!   supervisor state is a hypercall ([`hv::hypercall`]); every other `sc` is reflected to
//!   the guest's IVOR8. A guest's user program can therefore never make hypercalls.
//! - Data/instruction TLB error (a shadow miss) and data/instruction storage (a shadow
//!   entry without the right): the guest's TLB decides. Miss → its own TLB error interrupt;
//!   denied → its own DSI/ISI; allowed and backed by the memory map → (re)install the
//!   shadow entry and retry; allowed but unbacked → a device access (decoded load/store
//!   → [`Exit::Mmio`], the emulated power-off GPIO, or the modelled CCSR registers
//!   ([`crate::vccsr`], counted as [`Exit::Emulated`]), or a fault if it is no load/store.
//! - Decrementer: the physical timer fired for a virtual deadline: timers are brought up
//!   to date, the interrupt is delivered on the next entry when the virtual MSR allows
//!   (without the core, unless the watchdog resets the partition).
//! - Alignment, SPE/FP/AP unavailable, SPE FP exceptions, performance monitor: reflected.
//! - Machine check: [`Fault::Hardware`]. Other asynchronous interrupts: [`Exit::Interrupt`].

use hv::exit::{Exit, Fault, MmioAccess, PowerRequest, Refusal};
use hv::memmap::Kind;

use super::Ivor;
use crate::emulate::{emulate, Emulated};
use crate::guest::{Guest, Pending};
use crate::guest_tlb::{Access, TlbEvent, TlbSelect, TranslateError};
use crate::mmio;
use crate::poweroff::Outcome;
use crate::reflect::{esr, Interrupt, ProgramKind};
use crate::shadow;
use crate::tlb::mas3;
use crate::vcpu::msr;

/// `sc 1`: primary opcode 17, LEV = 1, bit 30 set.
const SC_HYPERCALL: u32 = 0x4400_0022;
/// DSI syndromes that are not a permission check (cache locking, byte order, SPE): the
/// shadow TLB cannot fix them, so they are the guest's.
const DSI_NOT_PERMISSION: u32 = esr::DLK | esr::ILK | esr::BO | esr::SPE;

impl Guest<'_> {
    /// Handles the trap `ivor` the guest just took; `None` when the guest can go on.
    pub(crate) fn handle(&mut self, ivor: Ivor) -> Option<Exit> {
        let (syndrome, dear) = (self.tail.esr, self.tail.dear);
        match ivor {
            Ivor::Program => self.program(syndrome),
            Ivor::SystemCall => self.system_call(),
            Ivor::DataTlbError => self.data_access(dear, syndrome, false),
            Ivor::DataStorage => self.data_access(dear, syndrome, true),
            Ivor::InstructionTlbError => self.fetch_access(false),
            Ivor::InstructionStorage => self.fetch_access(true),
            Ivor::Decrementer => self.decrementer(),
            // The syndrome as the hardware reported it (QEMU sets more than ST/SPE).
            // Only ESR[ST] and ESR[SPE] are defined for alignment (E500CORERM 5.7.6); pass
            // no other bit (QEMU leaves the previous exception's ESR in place).
            Ivor::Alignment => self.reflected(Interrupt::Alignment { dear, esr: syndrome & (esr::ST | esr::SPE) }),
            Ivor::SpeUnavailable if self.state.msr & msr::SPE != 0 => {
                // The guest enabled SPE, whose register halves the hypervisor does not
                // switch yet: refused rather than silently shared.
                Some(Exit::Fault(Fault::Forbidden { syndrome: u64::from(syndrome) }))
            }
            Ivor::SpeUnavailable => self.reflected(Interrupt::SpeUnavailable),
            Ivor::FpUnavailable => self.reflected(Interrupt::FpUnavailable),
            Ivor::ApUnavailable => self.reflected(Interrupt::ApUnavailable),
            Ivor::SpeFpData => self.reflected(Interrupt::SpeFpData),
            Ivor::SpeFpRound => self.reflected(Interrupt::SpeFpRound),
            Ivor::PerformanceMonitor => self.reflected(Interrupt::PerformanceMonitor),
            Ivor::MachineCheck => {
                // The syndrome is the partition's now (its policy decides; `inject` passes
                // MCSR and MCAR on): clear the real MCSR (write 1 to clear) so that the next
                // machine check does not report this one's bits too.
                // SAFETY: MCSR only records machine check causes.
                unsafe { crate::spr::write::<{ crate::spr::MCSR }>(syndrome) };
                Some(Exit::Fault(Fault::Hardware { syndrome: u64::from(syndrome) }))
            }
            Ivor::External => {
                self.take_device_interrupts();
                None
            }
            Ivor::FixedIntervalTimer | Ivor::Watchdog | Ivor::CriticalInput | Ivor::Debug => {
                Some(Exit::Interrupt)
            }
        }
    }

    fn reflected(&mut self, int: Interrupt) -> Option<Exit> {
        self.deliver(int);
        None
    }

    fn program(&mut self, syndrome: u32) -> Option<Exit> {
        if syndrome & esr::PPR == 0 {
            let kind = if syndrome & esr::PTR != 0 {
                ProgramKind::Trap
            } else if syndrome & esr::PUO != 0 {
                ProgramKind::Unimplemented
            } else {
                ProgramKind::Illegal
            };
            return self.reflected(Interrupt::Program(kind));
        }
        self.privileged().err()
    }

    /// A privileged instruction at SRR0 (ESR[PPR]), fetched through the guest's
    /// translation and emulated; what it did applied to the real context. `Ok(true)`:
    /// the guest goes on, and the virtual MSR, interrupts or timers may have changed, so
    /// the next entry must be prepared; `Ok(false)`: it goes on and nothing the entry
    /// depends on changed; `Err`: the core decides.
    pub(crate) fn privileged(&mut self) -> Result<bool, Exit> {
        let pc = self.state.pc;
        let Some(word) = self.fetch(pc) else {
            return Err(Exit::Fault(Fault::Fetch { addr: u64::from(pc) }));
        };
        let then = self.trap_time();
        let old_msr = self.state.msr;
        let outcome = emulate(&mut self.state, &mut self.tlb, word, then);
        if self.state.take_watchdog_reset().is_some() {
            return Err(Exit::Power(PowerRequest::SystemReset));
        }
        match outcome {
            Emulated::Next => return Ok(false),
            Emulated::Jumped { .. } | Emulated::MsrChanged { .. } => {
                let new = self.state.msr;
                return Ok((old_msr ^ new) & (msr::PR | msr::IS | msr::DS) != 0 || new & self.wake() != 0);
            }
            Emulated::TlbChanged(event) => self.drop_shadows(event),
            Emulated::PidChanged => self.drop_all(),
            Emulated::SprgChanged(n) => crate::spr::load_user_sprg(n, self.state.sprg[usize::from(n & 7)]),
            Emulated::CacheFlush { ea } => self.flush_line(ea),
            Emulated::TimerChanged => {
                self.timer_dirty = true;
                return Ok(true);
            }
            Emulated::Idle => return Err(Exit::Idle),
            Emulated::Illegal => self.deliver(Interrupt::Program(ProgramKind::Illegal)),
            Emulated::Privileged => self.deliver(Interrupt::Program(ProgramKind::Privileged)),
            Emulated::Reflect(int) => self.deliver(int),
        }
        // TLB, PID, SPRG and cache changes leave the MSR and interrupts alone; reflected
        // faults do not.
        Ok(matches!(outcome, Emulated::Illegal | Emulated::Privileged | Emulated::Reflect(_)))
    }

    pub(crate) fn system_call(&mut self) -> Option<Exit> {
        // SRR0 is already past the `sc`.
        let at = self.state.pc.wrapping_sub(4);
        if !self.state.problem_state() && self.peek(at) == Some(SC_HYPERCALL) {
            return Some(Exit::Hypercall);
        }
        self.reflected(Interrupt::SystemCall)
    }

    /// A shadow miss (`storage` false) or a shadow permission fault (`storage` true) on a
    /// data access at `ea`.
    fn data_access(&mut self, ea: u32, syndrome: u32, storage: bool) -> Option<Exit> {
        let store = syndrome & esr::ST != 0;
        let st = if store { esr::ST } else { 0 };
        if storage && syndrome & DSI_NOT_PERMISSION != 0 {
            return self.reflected(Interrupt::DataStorage { dear: ea, esr: syndrome });
        }
        match self.refill(ea, if store { Access::Store } else { Access::Load }, storage) {
            Ok(None) => None,
            Ok(Some(gpa)) => self.device_access(ea, gpa, store),
            Err(TranslateError::Miss) => self.reflected(Interrupt::DataTlbError { dear: ea, esr: st }),
            Err(TranslateError::Denied(_)) => self.reflected(Interrupt::DataStorage { dear: ea, esr: st }),
        }
    }

    /// An instruction fetch at SRR0 that missed (or was refused by) the shadow TLB.
    fn fetch_access(&mut self, storage: bool) -> Option<Exit> {
        match self.refill(self.state.pc, Access::Fetch, storage) {
            Ok(None) => None,
            // Not RAM (a device, shared memory, nothing): never executable.
            Ok(Some(gpa)) => Some(Exit::Fault(Fault::Fetch { addr: gpa })),
            Err(TranslateError::Miss) => self.reflected(Interrupt::InstructionTlbError),
            Err(TranslateError::Denied(_)) => self.reflected(Interrupt::InstructionStorage { esr: 0 }),
        }
    }

    /// The guest's translation of `ea` for `access`, installed in the shadow TLB
    /// (`Ok(None)`; after a permission fault, `storage`, the entry that refused it is
    /// dropped first); `Ok(Some(gpa))` when nothing backs the guest-physical page (for a
    /// fetch: no executable RAM); the guest's own miss or denial as `Err`.
    fn refill(&mut self, ea: u32, access: Access, storage: bool) -> Result<Option<u64>, TranslateError> {
        let t = self.translate(ea, access)?;
        let split = (self.state.msr & msr::IS != 0) != (self.state.msr & msr::DS != 0);
        match shadow::entry(self.map, ea, &t, access, self.state.problem_state(), split) {
            Some(e) if access != Access::Fetch || e.perms & mas3::UX != 0 => {
                if storage {
                    self.shadow.invalidate_page(ea);
                }
                self.shadow.install(&e);
                Ok(None)
            }
            _ => Ok(Some(t.pa)),
        }
    }

    /// A data access at `ea` to guest-physical `gpa`, which no memory backs: decode the
    /// instruction and answer it from the port's own devices (power-off GPIO, MPIC model,
    /// virtual CCSR, registers forwarded to an assigned device), or hand it to the core.
    fn device_access(&mut self, ea: u32, gpa: u64, store: bool) -> Option<Exit> {
        self.last_data = (ea, store);
        let refused = Some(Exit::Fault(Fault::Memory { addr: gpa, write: store }));
        let Some(d) = self.peek(self.state.pc).and_then(mmio::decode).filter(|d| d.store == store) else { return refused };
        let value = d.store.then(|| mmio::store_value(d.width, self.state.reg(d.rt)));
        let access = MmioAccess { addr: gpa, width: d.width, write: value, reg: d.rt, sign_extend: d.sign_extend };
        self.pending = Some(Pending { decoded: d, ea });
        let written = value.map(|v| v as u32);
        // What the access reads (0 for a write), and what the core is told.
        let emulated = Some(Exit::Emulated(None));
        let (read, exit) = if let Some(o) = self.setup.power_off.access(gpa, value) {
            match o {
                Outcome::PowerOff => return Some(Exit::Power(PowerRequest::SystemOff)),
                Outcome::Value(v) => (v, None),
                Outcome::Ignored => (0, None),
            }
        } else if let Some(offset) = self.mpic_offset(gpa) {
            let outcome = self.vmpic.access(0, offset, d.width, written);
            self.mpic_changed();
            match outcome {
                crate::vmpic::Outcome::Read(v) => (u64::from(v), emulated),
                crate::vmpic::Outcome::Written { denied } => {
                    (0, Some(Exit::Emulated(denied.map(|source| Refusal::MpicSource { source }))))
                }
                crate::vmpic::Outcome::Bad => return refused,
            }
        } else if let Some(o) = self.vccsr.access(gpa, d.width, written) {
            let v = match o {
                crate::vccsr::Outcome::Value(v) => v,
                crate::vccsr::Outcome::Stored => 0,
            };
            (u64::from(v), emulated)
        } else if let Some(va) = self.forwarded(gpa, d.width) {
            // SAFETY: `forwarded` checked that the access lies in a device range of the
            // partition's own map, inside CCSR, which `Setup::ccsr_va` maps for the
            // hypervisor.
            (unsafe { crate::mpic::forward(va, d.width, value) }, emulated)
        } else {
            return Some(Exit::Mmio(access));
        };
        hv::exit::Vcpu::mmio_complete(self, &access, read);
        exit
    }

    /// The offset of `gpa` in the partition's MPIC window, if it is inside.
    fn mpic_offset(&self, gpa: u64) -> Option<u64> {
        gpa.checked_sub(self.setup.ccsr_base + crate::vmpic::CCSR_OFFSET).filter(|&o| o < crate::vmpic::WINDOW)
    }

    /// The hypervisor address of a register of one of the partition's devices that the
    /// shadow TLB cannot map (its range is not whole pages): the access at `gpa` lies
    /// wholly in a device range of the memory map, inside CCSR, width-aligned.
    fn forwarded(&self, gpa: u64, width: hv::exit::Width) -> Option<usize> {
        let m = self.map.find(gpa).filter(|m| m.kind == Kind::Device)?;
        let end = gpa.checked_add(width.bytes())?;
        let host = m.host + (gpa - m.guest);
        let offset = host.checked_sub(crate::guest_dt::CCSR_BASE)?;
        let fits = end <= m.guest.saturating_add(m.size) && offset + width.bytes() <= crate::guest_dt::CCSR_SIZE;
        (fits && gpa % width.bytes() == 0).then(|| self.setup.ccsr_va + offset as usize)
    }

    /// The physical decrementer fired for a virtual timer deadline: the timers catch up,
    /// and the next entry delivers what the virtual MSR lets in and re-arms the
    /// decrementer. Finished here, without the core: only a watchdog reset needs it.
    pub(crate) fn decrementer(&mut self) -> Option<Exit> {
        crate::timer::acknowledge();
        self.state.update_timers(crate::timer::now());
        self.timer_dirty = true;
        self.armed_for = None;
        if self.state.take_watchdog_reset().is_some() {
            return Some(Exit::Power(PowerRequest::SystemReset));
        }
        None
    }

    /// Drops the shadow entries and the cached instruction-page translation a guest TLB
    /// change made stale: the 4 KiB pages involved when the change was in TLB0 or was a
    /// TLB1 write of entries up to 64 KiB ([`shadow::tlb0_write_pages`],
    /// [`shadow::tlb1_write_pages`]; the cached page
    /// survives unless it is one of them), everything otherwise (larger TLB1 entries).
    pub(crate) fn drop_shadows(&mut self, event: TlbEvent) {
        let old = self.tlb.replaced();
        match event {
            TlbEvent::Written { tlb, index } => {
                let new = self.tlb.entry(tlb, usize::from(index)).copied().unwrap_or_default();
                let runs = match tlb {
                    TlbSelect::Tlb0 => shadow::tlb0_write_pages(&old, &new),
                    TlbSelect::Tlb1 => {
                        let Some(runs) = shadow::tlb1_write_pages(&old, &new) else { return self.drop_all() };
                        runs
                    }
                };
                for (first, pages) in runs {
                    for i in 0..pages {
                        self.drop_page(first.wrapping_add(i << 12));
                    }
                }
            }
            TlbEvent::Invalidated { tlb: TlbSelect::Tlb0, base, mask } => {
                for i in (0..16).filter(|i| mask & (1 << i) != 0) {
                    if let Some(e) = self.tlb.entry(TlbSelect::Tlb0, usize::from(base) + i) {
                        self.drop_page(e.epn());
                    }
                }
            }
            _ => self.drop_all(),
        }
    }

    /// The translation of the 4 KiB page at `ea` changed: its shadow entries and, if it is
    /// one, its cached instruction page go.
    fn drop_page(&mut self, ea: u32) {
        self.forget_translations_in(ea & !0xFFF, 1);
        self.shadow.invalidate_page(ea);
    }

    /// Any translation may have changed.
    fn drop_all(&mut self) {
        self.forget_translations();
        self.shadow.flush();
    }

    /// `dcbi` becomes a flush of the line in the partition's own memory (never a discard:
    /// the caches are physically tagged and shared).
    fn flush_line(&self, ea: u32) {
        let Ok(t) = self.translate(ea, Access::Load) else { return };
        if let Some((host, Kind::Ram | Kind::Shared)) = shadow::host_page(self.map, t.pa) {
            let addr = (host + (t.pa & (shadow::PAGE - 1))) as u32;
            // SAFETY: dcbf writes the line back and drops it; the address is the
            // partition's own memory, mapped one-to-one in address space 0.
            unsafe { core::arch::asm!("dcbf 0, {0}", "sync", in(reg_nonzero) addr, options(nostack)) };
        }
    }
}
