//! A partition's virtual CPU on e500v2: the port's side of [`hv::exit::Vcpu`].
//!
//! [`Guest`] owns the guest's virtual CPU ([`VcpuState`]), its TLB model ([`GuestTlb`])
//! and the trap frame it enters with. [`Vcpu::run`] loops on the hardware:
//! 1. deliver a virtual interrupt the virtual MSR lets in ([`reflect`]);
//! 2. make the real context follow the virtual one: shadow PID from the virtual MSR[PR],
//!    a shadow flush when the virtual address spaces (IS/DS) changed, the physical
//!    decrementer armed for the nearest virtual timer deadline ([`crate::timer`]);
//! 3. enter the guest in problem state, address space 1 ([`crate::trap::run`]);
//! 4. decode the trap ([`crate::trap::exits`]): what the port can finish itself (an
//!    emulated instruction, a shadow TLB refill, a reflected fault) loops back to 1;
//!    anything the core must decide about is returned as an [`Exit`].
//!
//! The hypervisor reaches partition memory through its own address space 0, which the
//! board maps one-to-one over all of RAM (see [`Guest::new`]).

use hv::exit::{Exit, Fault, MmioAccess, Vcpu};
use hv::memmap::{Kind, MemoryMap};

use crate::guest_tlb::{mas, Access, GuestTlb, Mas};
use crate::mmio;
use crate::poweroff::PowerOffGpio;
use crate::reflect::{esr, reflect, Interrupt, ProgramKind};
use crate::shadow::{self, hw::ShadowTlb};
use crate::trap::{self, msr as real_msr, TrapFrame};
use crate::vccsr::VirtualCcsr;
use crate::vmpic::Vmpic;
use core::mem::offset_of;
use crate::vcpu::{msr, CpuModel, VcpuState};

/// The IVORs the trap handler answers without `trap::exits`.
const IVOR_PROGRAM: u32 = trap::Ivor::Program as u32;
const IVOR_SYSTEM_CALL: u32 = trap::Ivor::SystemCall as u32;
const IVOR_DECREMENTER: u32 = trap::Ivor::Decrementer as u32;

/// `r6` at entry: the ePAPR magic ("EPAP"), as a boot loader passes it.
const EPAPR_MAGIC: u32 = 0x4550_4150;
/// The real MSR a guest runs with, besides PR/IS/DS/ME (which `trap::run` forces):
/// external and decrementer interrupts on, so the hypervisor's timer preempts it whatever
/// the guest's virtual MSR[EE] says.
const GUEST_MSR: u32 = real_msr::EE;

/// Board facts a vCPU needs.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    /// The virtual core's PIR.
    pub pir: u32,
    /// The emulated power-off GPIO block (guest-physical).
    pub power_off: PowerOffGpio,
    /// The CCSR window (guest-physical) where [`VirtualCcsr`] and the partition's MPIC
    /// ([`Vmpic`]) answer.
    pub ccsr_base: u64,
    /// Where the hypervisor maps the real CCSR (1 MiB at `ccsr_base`'s host address):
    /// the real MPIC and devices forwarded by register ([`crate::mpic`]).
    pub ccsr_va: usize,
}

/// A load or store in flight to an emulated device.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    pub decoded: mmio::Access,
    pub ea: u32,
}

/// What a trap saves besides the registers: the tail of a [`TrapFrame`] (`srr1..`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrapTail {
    /// The real MSR the guest runs with (entry) / ran with (trap).
    pub srr1: u32,
    pub esr: u32,
    pub dear: u32,
    pub ivor: u32,
    host_sp: u32,
    handler: u32,
    /// The last two instruction pages [`Guest::fetch`] translated, each or'ed with the
    /// virtual MSR[IS] it was translated under, and their host pages: emulating a run of
    /// privileged instructions fetches from the same page again and again, and an
    /// interrupt handler alternates with the code it interrupted (the Program vector's
    /// assembly reads these too). The translation depends on the page, the address space
    /// and the PIDs, not on MSR[PR]; it is dropped whenever a PID or the guest TLB changes
    /// (for TLB1 writes of small entries only if the page is among theirs,
    /// `trap::exits::drop_shadows`).
    fetch_tag: [u32; 2],
    fetch_host: [u32; 2],
    /// [`VcpuState::wake_mask`] as of the last entry: which MSR bits, once set, let a
    /// pending interrupt in. The fast paths change none of what it depends on, except
    /// that the vector's TSR clears may leave it a bit that is no longer needed (a superset
    /// only sends more to the full path, which recomputes it).
    wake: u32,
    /// The timebase's low word when the Program interrupt left the vector's fast path.
    tbl: u32,
}

impl TrapTail {
    const NEW: TrapTail = TrapTail {
        srr1: 0, esr: 0, dear: 0, ivor: 0, host_sp: 0, handler: 0,
        fetch_tag: [trap::FETCH_NONE; 2], fetch_host: [0; 2], wake: 0, tbl: 0,
    };
}

/// One virtual CPU of a partition.
///
/// `repr(C)`: `state` ends with the user registers in trap-frame order and `tail`
/// follows it, so together they are the [`TrapFrame`] the trap path saves into and
/// enters from (checked below). Nothing is copied between a frame and the state.
#[repr(C)]
pub struct Guest<'a> {
    pub(crate) state: VcpuState,
    pub(crate) tail: TrapTail,
    pub(crate) tlb: GuestTlb,
    pub(crate) map: &'a MemoryMap,
    pub(crate) shadow: ShadowTlb,
    pub(crate) setup: Setup,
    pub(crate) pending: Option<Pending>,
    /// The modelled CCSR registers (besides console and power-off).
    pub(crate) vccsr: VirtualCcsr,
    /// The partition's MPIC (one vCPU: the model is this vCPU's alone).
    pub(crate) vmpic: Vmpic,
    /// [`Vmpic::hw_unmasked`] as last applied to the real MPIC.
    pub(crate) hw_unmasked: u32,
    /// EA and direction of the last data access refused to the core (for `inject`).
    pub(crate) last_data: (u32, bool),
    /// The virtual timers changed: the physical decrementer may need re-arming before the
    /// next entry.
    pub(crate) timer_dirty: bool,
    /// The deadline the physical decrementer is armed for ([`DISARMED`]: none), `None`
    /// when not known (it fired, the vCPU dozed, the core ran): re-armed only when the
    /// nearest virtual deadline differs. A plain `Option<u64>` because the Program
    /// vector's DEC write sets it too (`trap/program.rs`, at [`ARMED_FROM_FRAME`]).
    pub(crate) armed_for: Option<u64>,
    /// Virtual MSR[IS|DS] the shadow entries were made under.
    shadow_spaces: u32,
    /// What the trap handler hands back to [`Vcpu::run`] for the core.
    exit: Option<Exit>,
}

// The registers at the end of VcpuState and the TrapTail after it form a TrapFrame.
const FRAME_IN_GUEST: usize = offset_of!(Guest<'static>, state) + offset_of!(VcpuState, gpr);

/// [`Guest::armed_for`] for a disarmed decrementer ([`VcpuState::next_timer_deadline`]
/// is never `Some(u64::MAX)`).
pub(crate) const DISARMED: u64 = u64::MAX;
/// Where [`Guest::armed_for`] is from a vCPU's frame (an `Option<u64>`, `vcpu::layout`).
pub(crate) const ARMED_FROM_FRAME: i32 = offset_of!(Guest<'static>, armed_for) as i32 - FRAME_IN_GUEST as i32;
const _: () = assert!(ARMED_FROM_FRAME > -32768 && ARMED_FROM_FRAME + 16 < 32768, "a displacement for the vector");
/// Where [`Guest::tlb`] is from a vCPU's frame, as `addis`/`addi` halves for the vector.
const TLB_FROM_FRAME: i32 = offset_of!(Guest<'static>, tlb) as i32 - FRAME_IN_GUEST as i32;
pub(crate) const TLB_FROM_FRAME_HA: i32 = (TLB_FROM_FRAME + 0x8000) >> 16;
pub(crate) const TLB_FROM_FRAME_LO: i32 = TLB_FROM_FRAME - (TLB_FROM_FRAME_HA << 16);
const _: () = assert!(
    crate::guest_tlb::layout::TLB0 < 0x7000
        && crate::guest_tlb::layout::TLB1 < 0x7000
        && crate::guest_tlb::layout::TLB0_NV < 0x7FF0
        && crate::guest_tlb::layout::TLB1_LIVE < 0x7FF0,
    "displacements for the vector"
);
const _: () = {
    assert!(offset_of!(VcpuState, gpr) + offset_of!(TrapFrame, cr) == offset_of!(VcpuState, cr));
    assert!(offset_of!(VcpuState, gpr) + offset_of!(TrapFrame, lr) == offset_of!(VcpuState, lr));
    assert!(offset_of!(VcpuState, gpr) + offset_of!(TrapFrame, ctr) == offset_of!(VcpuState, ctr));
    assert!(offset_of!(VcpuState, gpr) + offset_of!(TrapFrame, xer) == offset_of!(VcpuState, xer));
    assert!(offset_of!(VcpuState, gpr) + offset_of!(TrapFrame, srr0) == offset_of!(VcpuState, pc));
    assert!(FRAME_IN_GUEST + offset_of!(TrapFrame, srr1) == offset_of!(Guest<'static>, tail));
    assert!(core::mem::size_of::<TrapTail>() + offset_of!(TrapFrame, srr1) == core::mem::size_of::<TrapFrame>());
};

impl<'a> Guest<'a> {
    /// A vCPU for a partition with memory map `map`, in its boot state at `entry` with
    /// boot argument `arg` (r3).
    ///
    /// The caller guarantees that address space 0 maps every host-physical address of
    /// `map`'s RAM one-to-one for the hypervisor (instruction fetches for emulation and
    /// hypercall buffers are read there).
    pub fn new(map: &'a MemoryMap, setup: Setup, entry: u64, arg: u64) -> Self {
        let mut g = Guest {
            tail: TrapTail::NEW,
            state: VcpuState::new(CpuModel::E500V2, setup.pir, 0),
            tlb: GuestTlb::new(),
            map,
            shadow: ShadowTlb::new(),
            setup,
            pending: None,
            vccsr: VirtualCcsr::new(setup.ccsr_base),
            vmpic: Vmpic::empty(1),
            hw_unmasked: 0,
            last_data: (0, false),
            timer_dirty: true,
            armed_for: None,
            shadow_spaces: 0,
            exit: None,
        };
        g.reset(entry, arg);
        g
    }

    /// The guest's TLB1 entry 0 at boot, as an ePAPR loader leaves it: effective 0 to
    /// guest-physical 0, the largest power-of-4 size that fits the first RAM mapping,
    /// read/write/execute. Returns its size (the IMA, passed in r7).
    fn initial_mapping(&mut self) -> u32 {
        let ram = self.map.boot_ram().map_or(0, |m| m.size);
        let (tsize, bytes) = crate::loader::initial_mapping(ram);
        let m = Mas {
            mas0: mas::MAS0_TLBSEL,
            mas1: mas::MAS1_V | tsize << mas::MAS1_TSIZE_SHIFT,
            mas2: 0, // EPN 0, no WIMGE attributes
            mas3: u32::from(crate::guest_tlb::perm::SR | crate::guest_tlb::perm::SW | crate::guest_tlb::perm::SX)
                | u32::from(crate::guest_tlb::perm::UR | crate::guest_tlb::perm::UW | crate::guest_tlb::perm::UX),
            ..Mas::default()
        };
        self.tlb.write(&m);
        bytes as u32
    }

    /// Runs the guest until a trap needs the core. Traps the port finishes itself are
    /// handled by [`guest_trap`] straight from the trap path, which re-enters the guest
    /// without unwinding to here (the fast path: no host registers restored and saved).
    fn step(&mut self) -> Option<Exit> {
        self.prepare_entry();
        // A trap leaves `tail.srr1` as it was: the guest cannot change its real MSR.
        self.tail.srr1 = GUEST_MSR | trap::GUEST_MSR_FORCED;
        self.tail.handler = guest_trap as trap::TrapHandler as usize as u32;
        let frame = (self as *mut Self).cast::<u8>().wrapping_add(FRAME_IN_GUEST).cast::<TrapFrame>();
        // SAFETY: `frame` is the TrapFrame formed by the end of `state` and `tail`
        // (layout checked above), inside `self`, which nothing else touches until this
        // returns but `guest_trap`, through this same pointer. Only shadow entries are
        // reachable from address space 1 with problem-state rights, and they map the
        // partition's own memory (crate::shadow).
        let _ = unsafe { trap::enter(frame) };
        self.exit.take()
    }

    /// Handles a trap on the trap path: `true` to enter the guest again at once, `false`
    /// with `self.exit` set to leave [`Guest::step`].
    ///
    /// (The Program vector's assembly already finished what `emulate::in_vector` covers
    /// before any of this runs, and handed timer SPR moves and TLB instructions to
    /// [`Guest::timer_trap`] and [`Guest::tlb_trap`].) Here: the other privileged
    /// instructions (`emulate`), the guest's
    /// system calls and the decrementer, each without the generic dispatch, and
    /// everything else through `trap::exits`.
    #[inline(always)]
    fn on_trap(&mut self) -> bool {
        match self.tail.ivor {
            IVOR_PROGRAM if self.tail.esr & esr::PPR != 0 => return self.privileged_trap(),
            IVOR_SYSTEM_CALL => return self.system_call_trap(),
            IVOR_DECREMENTER => return self.decrementer_trap(),
            _ => {}
        }
        self.on_trap_slow()
    }

    /// The slot of the cached instruction page holding `pc`, if one does.
    #[inline(always)]
    fn cached_slot(&self, pc: u32) -> Option<usize> {
        let tag = (pc & !(shadow::PAGE as u32 - 1)) | (self.state.msr & msr::IS);
        self.tail.fetch_tag.iter().position(|&t| t == tag).filter(|_| pc % 4 == 0)
    }

    /// The word at `pc` in the cached instruction page of `slot`.
    #[inline(always)]
    fn cached_word(&self, slot: usize, pc: u32) -> u32 {
        let addr = self.tail.fetch_host[slot & 1] | (pc & (shadow::PAGE as u32 - 4));
        // SAFETY: as in `fetch`, which filled the cache: an aligned word of the
        // partition's RAM, mapped one-to-one in address space 0.
        unsafe { core::ptr::read_volatile(addr as usize as *const u32) }
    }

    /// The virtual MSR went from `old` to `new` on a fast path: the real context follows
    /// only if the state, the spaces or what may interrupt changed.
    #[inline(always)]
    fn msr_changed(&mut self, old: u32, new: u32) {
        if (old ^ new) & (msr::PR | msr::IS | msr::DS) != 0 || new & self.tail.wake != 0 {
            self.prepare_entry();
        }
    }

    /// [`VcpuState::wake_mask`] as of the last entry.
    pub(crate) fn wake(&self) -> u32 {
        self.tail.wake
    }

    /// A timer SPR move the Program vector hands over (`trap/program.rs`,
    /// `bh_program_timer`: a write, or a read while a timer event is due), executed at
    /// `timebase`, when it trapped: `emulate::timer_spr`, then what `emulate`'s caller
    /// would do. A watchdog reset that came due leaves for the core; after a write, a
    /// virtual interrupt the guest now takes is delivered as on every entry, and otherwise
    /// only the physical decrementer follows, re-armed when the nearest deadline changed.
    /// (Reads need neither: an event they bring up to date is one the decrementer is
    /// armed for.) `true` to re-enter the guest.
    #[inline(always)]
    fn timer_trap(&mut self, word: u32, timebase: u64) -> bool {
        // What interrupts and deadlines depend on (besides pending inputs, which do not
        // change here): if none of it changed, there is nothing to follow up.
        let before = (self.state.tsr, self.state.tcr, self.state.dec_deadline);
        let Some(result) = crate::emulate::timer_spr(&mut self.state, word, timebase) else {
            return self.privileged_trap();
        };
        if self.state.take_watchdog_reset().is_some() {
            self.exit = Some(Exit::Power(hv::exit::PowerRequest::SystemReset));
            return false;
        }
        let after = (self.state.tsr, self.state.tcr, self.state.dec_deadline);
        if result == crate::emulate::Emulated::TimerChanged && after != before {
            let wake = self.state.wake_mask();
            if self.state.msr & wake != 0 {
                self.timer_dirty = true;
                self.prepare_entry();
            } else {
                self.tail.wake = wake;
                self.arm(self.state.next_timer_deadline());
            }
        }
        true
    }

    /// A TLB instruction the Program vector hands over (`trap/program.rs`, by its XO):
    /// `tlbsx`/`tlbre` read the guest TLB model (`emulate::tlb_read`), `tlbwe`/`tlbivax`
    /// change it (`emulate::tlb_write`) and the shadow entries involved go, as after
    /// `emulate`; any other form (reserved fields set, `tlbsx` with rA) takes the full
    /// path. `true` to re-enter the guest.
    #[inline(always)]
    fn tlb_trap(&mut self, word: u32) -> bool {
        // The writes first: the vector hands over every tlbwe, but reads only in rare forms.
        match crate::emulate::tlb_write(&mut self.state, &mut self.tlb, word) {
            Some(crate::emulate::Emulated::TlbChanged(event)) => self.drop_shadows(event),
            Some(_) => {}
            None if crate::emulate::tlb_read(&mut self.state, &self.tlb, word).is_some() => {}
            None => return self.privileged_trap(),
        }
        true
    }

    /// Arms the physical decrementer for `next` unless it already is.
    #[inline(always)]
    fn arm(&mut self, next: Option<u64>) {
        let armed = next.unwrap_or(DISARMED);
        if self.armed_for != Some(armed) {
            crate::timer::program(next);
            self.armed_for = Some(armed);
        }
    }

    #[inline(never)]
    fn privileged_trap(&mut self) -> bool {
        match self.privileged() {
            Ok(prepare) => {
                if prepare {
                    self.prepare_entry();
                }
                true
            }
            Err(exit) => {
                self.exit = Some(exit);
                false
            }
        }
    }

    #[inline(never)]
    fn system_call_trap(&mut self) -> bool {
        let old = self.state.msr;
        match self.system_call() {
            Some(exit) => {
                self.exit = Some(exit);
                false
            }
            None => {
                self.msr_changed(old, self.state.msr);
                true
            }
        }
    }

    #[inline(never)]
    fn decrementer_trap(&mut self) -> bool {
        let exit = self.decrementer();
        self.resume_unless(exit)
    }

    /// Every other trap: decoded by `trap::exits`.
    #[inline(never)]
    fn on_trap_slow(&mut self) -> bool {
        let Some(ivor) = trap::Ivor::from_number(self.tail.ivor) else {
            panic!("trap stub passed IVOR{}, which it does not have", self.tail.ivor)
        };
        let exit = self.handle(ivor);
        self.resume_unless(exit)
    }

    /// After a trap the port handled: back into the guest, or out to the core with `exit`.
    #[inline(always)]
    fn resume_unless(&mut self, exit: Option<Exit>) -> bool {
        match exit {
            None => {
                self.prepare_entry();
                true
            }
            Some(exit) => {
                self.exit = Some(exit);
                false
            }
        }
    }

    /// What every entry needs after the state changed: a virtual interrupt the virtual
    /// MSR lets in, the real context following the virtual one, the physical decrementer
    /// armed.
    #[inline(never)]
    fn prepare_entry(&mut self) {
        self.tail.wake = self.state.wake_mask();
        if self.state.msr & self.tail.wake != 0 || self.timer_dirty {
            if let Some(int) = self.state.pending_interrupt() {
                reflect(&mut self.state, &self.tlb, int);
            }
            if self.timer_dirty {
                self.timer_dirty = false;
                self.arm(self.state.next_timer_deadline());
            }
        }
        let spaces = self.state.msr & (msr::IS | msr::DS);
        if spaces != self.shadow_spaces {
            self.spaces_changed(spaces);
        }
        self.shadow.set_context(self.state.problem_state());
    }

    /// The virtual address spaces (IS/DS) changed: shadow entries made under the old
    /// ones are stale.
    #[inline(never)]
    fn spaces_changed(&mut self, spaces: u32) {
        self.shadow.flush();
        self.shadow_spaces = spaces;
    }

    /// Translates `ea` as the guest would for `access` in its current mode.
    pub(crate) fn translate(&self, ea: u32, access: Access) -> Result<crate::guest_tlb::Translation, crate::guest_tlb::TranslateError> {
        let space = match access {
            Access::Fetch => self.state.msr & msr::IS != 0,
            Access::Load | Access::Store => self.state.msr & msr::DS != 0,
        };
        self.tlb.translate(ea, space, &self.state.pid, access, self.state.problem_state())
    }

    /// The instruction word at guest address `ea`, read through the guest's translation
    /// from its own RAM. The page's translation is cached (`TrapTail::fetch_tag`): use
    /// for the privileged instructions the emulator runs.
    pub(crate) fn fetch(&mut self, ea: u32) -> Option<u32> {
        match self.cached_slot(ea) {
            Some(0) => {}
            Some(_) => {
                // Used now: the other page becomes the one a miss replaces.
                self.tail.fetch_tag.swap(0, 1);
                self.tail.fetch_host.swap(0, 1);
            }
            None => {
                let (tag, host) = self.fetch_page(ea)?;
                self.tail.fetch_tag = [tag, self.tail.fetch_tag[0]];
                self.tail.fetch_host = [host, self.tail.fetch_host[0]];
            }
        }
        Some(self.cached_word(0, ea))
    }

    /// [`Guest::fetch`] without changing the cache: for instructions that are only looked
    /// at (the `sc` before a system call, a load or store to decode), which should not
    /// evict the pages the emulator keeps returning to.
    pub(crate) fn peek(&self, ea: u32) -> Option<u32> {
        if let Some(slot) = self.cached_slot(ea) {
            return Some(self.cached_word(slot, ea));
        }
        let (_, host) = self.fetch_page(ea)?;
        // SAFETY: as in `cached_word`: an aligned word of the partition's RAM.
        Some(unsafe { core::ptr::read_volatile((host | (ea & (shadow::PAGE as u32 - 4))) as usize as *const u32) })
    }

    /// The cache tag of `ea`'s page and the host page behind it, if `ea` is a word address
    /// the guest can fetch from in its own RAM.
    fn fetch_page(&self, ea: u32) -> Option<(u32, u32)> {
        if ea % 4 != 0 {
            return None;
        }
        let page = ea & !(shadow::PAGE as u32 - 1);
        let t = self.translate(page, Access::Fetch).ok()?;
        let (host, kind) = shadow::host_page(self.map, t.pa)?;
        if kind != Kind::Ram {
            return None;
        }
        // The hypervisor reaches RAM below 4 GiB only (the board checks partitions), and
        // address space 0 maps it one-to-one (Guest::new's contract).
        Some((page | (self.state.msr & msr::IS), u32::try_from(host).ok()?))
    }

    /// When the privileged instruction being emulated executed: the timebase the Program
    /// vector read (its low word, completed from now; the handler runs well within 2^32
    /// ticks). Timer writes count from then, as on the hardware, not from when the
    /// emulator got to them.
    pub(crate) fn trap_time(&self) -> u64 {
        let now = crate::timer::now();
        let then = (now & !0xFFFF_FFFF) | u64::from(self.tail.tbl);
        if then > now { then.wrapping_sub(1 << 32) } else { then }
    }

    /// The guest's TLB or PIDs changed: cached translations are stale.
    pub(crate) fn forget_translations(&mut self) {
        self.tail.fetch_tag = [trap::FETCH_NONE; 2];
    }

    /// Only the 4 KiB pages `first..first + pages * 4 KiB` changed translation: the cached
    /// instruction page goes if it is one of them.
    pub(crate) fn forget_translations_in(&mut self, first: u32, pages: u32) {
        let stale = |tag: u32| (tag & !(shadow::PAGE as u32 - 1)).wrapping_sub(first) < pages << 12;
        if self.tail.fetch_tag.iter().any(|&t| stale(t)) {
            self.forget_translations();
        }
    }

    /// Delivers `int` to the guest's own vector.
    #[inline(never)]
    pub(crate) fn deliver(&mut self, int: Interrupt) {
        reflect(&mut self.state, &self.tlb, int);
    }
}

/// The [`trap::TrapHandler`] of every vCPU: `frame` is the one [`Guest::step`] entered
/// with, at [`FRAME_IN_GUEST`] inside its `Guest`.
extern "C" fn guest_trap(frame: *mut TrapFrame) -> u32 {
    let guest = frame.cast::<u8>().wrapping_sub(FRAME_IN_GUEST).cast::<Guest<'_>>();
    // SAFETY: only `step` installs this handler, with a frame pointer it derived from its
    // `&mut Guest` at FRAME_IN_GUEST; `step` is suspended in `trap::enter` until this
    // returns, so this is the only access to the Guest meanwhile (and its memory map
    // reference is as alive as in `step`).
    let guest = unsafe { &mut *guest };
    u32::from(guest.on_trap())
}

/// What the Program vector's assembly calls for a timer SPR move (`trap/program.rs`,
/// `bh_program_timer`), as the trap path calls [`guest_trap`]: `frame` is a vCPU's (the
/// vector checked its instruction page is cached, which only a vCPU's frame has),
/// `word` the instruction, `timebase` when it trapped.
pub(crate) extern "C" fn guest_timer_trap(frame: *mut TrapFrame, word: u32, timebase: u64) -> u32 {
    let guest = frame.cast::<u8>().wrapping_sub(FRAME_IN_GUEST).cast::<Guest<'_>>();
    // SAFETY: as in `guest_trap`: only a vCPU's frame (one `step` entered with, inside its
    // Guest at FRAME_IN_GUEST) has a cached instruction page, and `step` is suspended in
    // `trap::enter` meanwhile.
    let guest = unsafe { &mut *guest };
    u32::from(guest.timer_trap(word, timebase))
}

/// What the Program vector's assembly calls for `tlbre`, `tlbsx`, `tlbwe` and `tlbivax`
/// (`trap/program.rs`), as [`guest_timer_trap`] (the timebase argument is unused).
pub(crate) extern "C" fn guest_tlb_trap(frame: *mut TrapFrame, word: u32, _timebase: u64) -> u32 {
    let guest = frame.cast::<u8>().wrapping_sub(FRAME_IN_GUEST).cast::<Guest<'_>>();
    // SAFETY: as in `guest_timer_trap`.
    let guest = unsafe { &mut *guest };
    u32::from(guest.tlb_trap(word))
}

impl hv::exit::Run for Guest<'_> {
    fn run(&mut self) -> Exit {
        // A watchdog reset that came due while the vCPU dozed (`idle` brings the timers up
        // to date but cannot exit); the trap path takes the others as they happen.
        if self.state.take_watchdog_reset().is_some() {
            return Exit::Power(hv::exit::PowerRequest::SystemReset);
        }
        // The core and the board may have used the decrementer meanwhile.
        self.armed_for = None;
        loop {
            if let Some(exit) = self.step() {
                return exit;
            }
        }
    }
}

impl Vcpu for Guest<'_> {
    /// `sc 1` in virtual supervisor state: function in r11, arguments r3..r6.
    fn hypercall_args(&self) -> (u64, [u64; 4]) {
        let r = |n: u8| u64::from(self.state.reg(n));
        (r(11), [r(3), r(4), r(5), r(6)])
    }

    /// Results in r3..r6; `pc` is already past the `sc`.
    fn hypercall_return(&mut self, ret: [u64; 4]) {
        for (i, v) in ret.iter().enumerate() {
            self.state.set_reg(3 + i as u8, *v as u32);
        }
    }

    fn mmio_complete(&mut self, access: &MmioAccess, value: u64) {
        if let Some(p) = self.pending.take() {
            if !p.decoded.store {
                self.state.set_reg(access.reg, mmio::load_result(access.width, access.sign_extend, value));
            }
            if let Some(ra) = p.decoded.update_ra {
                self.state.set_reg(ra, p.ea);
            }
        }
        self.state.pc = self.state.pc.wrapping_add(4);
    }

    /// Policy `inject`: the fault as the e500 reports it.
    fn inject(&mut self, fault: &Fault) {
        self.pending = None;
        let int = match *fault {
            Fault::Memory { write, .. } => {
                let st = if write { esr::ST } else { 0 };
                Interrupt::DataStorage { dear: self.last_data.0, esr: st }
            }
            Fault::Fetch { .. } => Interrupt::InstructionStorage { esr: 0 },
            Fault::Forbidden { .. } | Fault::Firmware { .. } | Fault::Hypercall { .. } => {
                Interrupt::Program(ProgramKind::Illegal)
            }
            // MCAR as the machine check that is this fault saved it (in the frame's DEAR).
            Fault::Hardware { syndrome } => Interrupt::MachineCheck { mcsr: syndrome as u32, mcar: self.tail.dear },
        };
        self.deliver(int);
    }

    /// The ePAPR boot state: MSR = 0, TLB1[0] maps the initial area, r3 = `arg` (device
    /// tree), r6 = the ePAPR magic, r7 = the initial area's size, r1 near its top.
    fn reset(&mut self, entry: u64, arg: u64) {
        self.state = VcpuState::new(CpuModel::E500V2, self.setup.pir, crate::timer::now());
        self.tlb = GuestTlb::new();
        let ima = self.initial_mapping();
        self.state.pc = entry as u32;
        self.state.set_reg(1, ima.saturating_sub(8));
        self.state.set_reg(3, arg as u32);
        self.state.set_reg(6, EPAPR_MAGIC);
        self.state.set_reg(7, ima);
        self.pending = None;
        self.vmpic.reset();
        self.mpic_changed();
        self.shadow.flush();
        self.shadow_spaces = 0;
        self.forget_translations();
        self.timer_dirty = true;
        self.armed_for = None;
        for n in 3..8 {
            crate::spr::load_user_sprg(n, 0);
        }
    }

    /// Dozes until the next physical interrupt, unless a virtual one is already due.
    fn idle(&mut self) {
        let now = crate::timer::now();
        self.state.update_timers(now);
        if self.state.pending_interrupt().is_some() {
            return;
        }
        crate::timer::program(self.state.next_timer_deadline());
        self.timer_dirty = false;
        crate::idle::doze();
        crate::timer::acknowledge();
        self.state.update_timers(crate::timer::now());
        self.timer_dirty = true;
        self.armed_for = None;
        if self.hw_unmasked != 0 {
            self.take_device_interrupts();
        }
    }
}
