//! Multi-vCPU partitions: the power state of each vCPU, and PSCI CPU_ON / CPU_OFF /
//! AFFINITY_INFO between a partition's own vCPUs ([`crate::psci::guest`]).
//!
//! vCPU `n` of a partition always runs on the partition's `n`-th physical CPU (one vCPU
//! per physical CPU, pinned). A vCPU is OFF until a sibling starts it with CPU_ON (vCPU 0
//! is started by the board at the partition's boot entry): its physical CPU waits in
//! [`wait_for_on`] (WFE), the caller publishes entry point, context ID and the partition's
//! virtual counter offset in the target's mailbox and sends an event (SEV). A vCPU that
//! calls CPU_OFF goes back to OFF: its CPU restarts on a fresh stack
//! ([`restart_on_fresh_stack`]) and waits again.
//!
//! One partition's vCPUs share one virtual counter: CNTVOFF_EL2 is copied from the
//! caller of CPU_ON to the started vCPU, so the counter a guest reads is the same on all
//! its CPUs (Linux's clocksource and scheduler clock rely on it).
//!
//! Isolation: a vCPU can only name vCPUs of its own partition (the target is an index
//! into its own group, checked against its size); the mailbox holds guest values that only
//! ever become that same partition's vCPU state.

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use hv::config::{MAX_CPUS, MAX_PARTITIONS};

/// A vCPU's power state (PSCI AFFINITY_INFO's view: OFF, ON, ON_PENDING).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    Off,
    On,
    OnPending,
}

/// Why CPU_ON did not start a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    AlreadyOn,
    OnPending,
    /// Not one of the caller's partition's vCPUs.
    NoSuchCpu,
}

const OFF: u8 = 0;
/// A CPU_ON caller won the race for the mailbox and is filling it in.
const CLAIMED: u8 = 1;
/// Mailbox full; the target has not picked it up yet.
const PENDING: u8 = 2;
const ON: u8 = 3;

/// Marks a registered slot's `cpu` (physical MPIDR affinity 0 is valid).
const VALID: u64 = 1 << 63;

/// One vCPU's mailbox.
struct Slot {
    /// The physical CPU running this vCPU: `VALID | MPIDR affinity`, 0 if none.
    cpu: AtomicU64,
    state: AtomicU8,
    entry: AtomicU64,
    context: AtomicU64,
    /// CNTVOFF_EL2 to start with; 0: a fresh virtual counter (the partition's boot).
    cntvoff: AtomicU64,
}

impl Slot {
    const EMPTY: Slot = Slot {
        cpu: AtomicU64::new(0),
        state: AtomicU8::new(OFF),
        entry: AtomicU64::new(0),
        context: AtomicU64::new(0),
        cntvoff: AtomicU64::new(0),
    };
}

/// The vCPUs of one partition.
pub struct Group {
    slots: [Slot; MAX_CPUS],
}

/// Where a started vCPU begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    pub entry: u64,
    pub context: u64,
    /// The partition's CNTVOFF_EL2, or `None` for a fresh virtual counter.
    pub cntvoff: Option<u64>,
}

impl Group {
    pub const fn new() -> Group {
        Group { slots: [Slot::EMPTY; MAX_CPUS] }
    }

    /// Records the physical CPUs (MPIDR affinity, by vCPU index) and starts vCPU 0 at
    /// `entry` with `context` in x0 on a fresh virtual counter; the others are OFF.
    pub fn register(&self, cpus: &[u64], entry: u64, context: u64) {
        for (i, s) in self.slots.iter().enumerate() {
            s.cpu.store(cpus.get(i).map_or(0, |&c| VALID | c), Ordering::Relaxed);
            s.state.store(OFF, Ordering::Relaxed);
        }
        let _ = self.request(0, Start { entry, context, cntvoff: None });
    }

    /// How many vCPUs the partition has.
    pub fn len(&self) -> usize {
        self.slots.iter().take_while(|s| s.cpu.load(Ordering::Relaxed) & VALID != 0).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The vCPU index physical CPU `mpidr` runs, if it is one of this partition's.
    pub fn index_of(&self, mpidr: u64) -> Option<usize> {
        self.slots.iter().position(|s| s.cpu.load(Ordering::Relaxed) == VALID | mpidr)
    }

    /// The physical CPU of vCPU `index`.
    pub fn cpu(&self, index: usize) -> Option<u64> {
        let c = self.slots.get(index)?.cpu.load(Ordering::Relaxed);
        (c & VALID != 0).then_some(c & !VALID)
    }

    pub fn power(&self, index: usize) -> Option<Power> {
        (index < self.len()).then(|| match self.slots[index].state.load(Ordering::Acquire) {
            OFF => Power::Off,
            ON => Power::On,
            _ => Power::OnPending,
        })
    }

    /// CPU_ON: asks vCPU `target` to start as `start` says.
    pub fn request(&self, target: usize, start: Start) -> Result<(), OnError> {
        let s = self.slots.get(target).filter(|_| target < self.len()).ok_or(OnError::NoSuchCpu)?;
        if let Err(now) = s.state.compare_exchange(OFF, CLAIMED, Ordering::Acquire, Ordering::Acquire) {
            return Err(if now == ON { OnError::AlreadyOn } else { OnError::OnPending });
        }
        s.entry.store(start.entry, Ordering::Relaxed);
        s.context.store(start.context, Ordering::Relaxed);
        s.cntvoff.store(start.cntvoff.unwrap_or(0), Ordering::Relaxed);
        s.state.store(PENDING, Ordering::Release);
        send_event();
        Ok(())
    }

    /// The start request for vCPU `index`, if one waits: it is taken and the vCPU is ON.
    pub fn take(&self, index: usize) -> Option<Start> {
        let s = self.slots.get(index)?;
        s.state.compare_exchange(PENDING, ON, Ordering::Acquire, Ordering::Relaxed).ok()?;
        let cntvoff = s.cntvoff.load(Ordering::Relaxed);
        Some(Start {
            entry: s.entry.load(Ordering::Relaxed),
            context: s.context.load(Ordering::Relaxed),
            cntvoff: (cntvoff != 0).then_some(cntvoff),
        })
    }

    /// CPU_OFF of vCPU `index`; returns true if no vCPU of the partition is left on. An
    /// event tells a vCPU waiting in [`Group::halt_others`].
    pub fn off(&self, index: usize) -> bool {
        if let Some(s) = self.slots.get(index) {
            s.state.store(OFF, Ordering::Release);
        }
        send_event();
        (0..self.len()).all(|i| self.power(i) == Some(Power::Off))
    }

    /// A restart by vCPU `me`, with the partition already halted (`PartitionRt::is_stopped`
    /// holds, so a vCPU turns off at its next exit, and one just started never enters its
    /// guest): asks every other vCPU that is on to stop (`kick(its CPU)`), withdraws the
    /// CPU_ON requests not yet taken, and waits (WFE) until all of them are OFF.
    pub fn halt_others(&self, me: usize, kick: impl Fn(u64)) {
        let others = || (0..self.len()).filter(move |&i| i != me);
        for i in others().filter(|&i| self.slots[i].state.load(Ordering::Acquire) == ON) {
            if let Some(cpu) = self.cpu(i) {
                kick(cpu);
            }
        }
        loop {
            let mut all_off = true;
            for s in others().map(|i| &self.slots[i]) {
                // A request the target has not taken is withdrawn; one being filled in
                // (CLAIMED) becomes PENDING in a moment, and is withdrawn then.
                let _ = s.state.compare_exchange(PENDING, OFF, Ordering::AcqRel, Ordering::Acquire);
                all_off &= s.state.load(Ordering::Acquire) == OFF;
            }
            if all_off {
                return;
            }
            wait_for_event();
        }
    }

    /// The physical CPUs of the vCPUs that are on, other than `index`'s.
    pub fn others_on(&self, index: usize) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).filter(move |&i| i != index && self.power(i) != Some(Power::Off)).filter_map(|i| self.cpu(i))
    }
}

impl Default for Group {
    fn default() -> Self {
        Group::new()
    }
}

/// Every partition's vCPUs, by partition id.
pub static GROUPS: [Group; MAX_PARTITIONS] = [const { Group::new() }; MAX_PARTITIONS];

/// The partition group and vCPU index this physical CPU serves, if any.
pub fn mine() -> Option<(&'static Group, usize)> {
    let me = this_cpu()?;
    GROUPS.iter().find_map(|g| g.index_of(me).map(|i| (g, i)))
}

/// Waits (WFE) until vCPU `index` of `group` is asked to start.
pub fn wait_for_on(group: &Group, index: usize) -> Start {
    loop {
        if let Some(s) = group.take(index) {
            return s;
        }
        wait_for_event();
    }
}

#[cfg(target_arch = "aarch64")]
fn this_cpu() -> Option<u64> {
    Some(crate::cpu::mpidr())
}

#[cfg(not(target_arch = "aarch64"))]
fn this_cpu() -> Option<u64> {
    None
}

#[cfg(target_arch = "aarch64")]
fn send_event() {
    // SAFETY: a barrier and an event: no memory is changed.
    unsafe { core::arch::asm!("dsb ish", "sev", options(nostack, preserves_flags)) };
}

#[cfg(not(target_arch = "aarch64"))]
fn send_event() {}

#[cfg(target_arch = "aarch64")]
fn wait_for_event() {
    aarch64_cpu::asm::wfe();
}

#[cfg(not(target_arch = "aarch64"))]
fn wait_for_event() {}

/// This CPU's CNTVOFF_EL2: the offset of the virtual counter of the vCPU it runs.
#[cfg(target_arch = "aarch64")]
pub fn cntvoff() -> u64 {
    use aarch64_cpu::registers::{Readable, CNTVOFF_EL2};
    CNTVOFF_EL2.get()
}

/// Gives the vCPU on this CPU the virtual counter offset `v` (its partition's).
#[cfg(target_arch = "aarch64")]
pub fn set_cntvoff(v: u64) {
    use aarch64_cpu::registers::{Writeable, CNTVOFF_EL2};
    CNTVOFF_EL2.set(v);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

#[cfg(not(target_arch = "aarch64"))]
pub fn cntvoff() -> u64 {
    0
}

#[cfg(not(target_arch = "aarch64"))]
pub fn set_cntvoff(_v: u64) {}

/// Abandons everything on this CPU's stack and calls `f` on the stack's empty top (the
/// per-CPU stacks of `entry.rs`: `__cpu_stack_size` bytes each from `__stacks_start`).
/// For a vCPU that was turned off: its run loop's frames are dropped, not unwound (they
/// own no lock and nothing else refers to them).
#[cfg(target_arch = "aarch64")]
pub fn restart_on_fresh_stack(f: extern "C" fn() -> !) -> ! {
    extern "C" {
        static __stacks_start: u8;
        static __cpu_stack_size: u8;
    }
    let start = &raw const __stacks_start as u64;
    let size = &raw const __cpu_stack_size as u64;
    let sp: u64;
    // SAFETY: reads SP.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    let top = start + ((sp - start) / size + 1) * size;
    // SAFETY: `top` is the top of the stack this CPU runs on (the one `sp` lies in); `f`
    // never returns, so nothing below the new SP is used again.
    unsafe { core::arch::asm!("mov sp, {top}", "br {f}", top = in(reg) top, f = in(reg) f, options(noreturn)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(n: usize) -> Group {
        let g = Group::new();
        g.register(&[1, 3, 5, 7][..n], 0x4020_0000, 0x4000_0000);
        g
    }

    #[test]
    fn vcpu0_starts_at_boot_the_others_are_off() {
        let g = group(2);
        assert_eq!((g.len(), g.index_of(3), g.index_of(2), g.cpu(1)), (2, Some(1), None, Some(3)));
        assert_eq!(g.power(0), Some(Power::OnPending));
        assert_eq!(g.take(0), Some(Start { entry: 0x4020_0000, context: 0x4000_0000, cntvoff: None }));
        assert_eq!((g.power(0), g.power(1), g.power(2)), (Some(Power::On), Some(Power::Off), None));
        assert_eq!(g.take(1), None, "nothing asked vCPU 1 to start");
    }

    #[test]
    fn a_restart_withdraws_requests_and_waits_for_the_others() {
        let g = group(3);
        g.take(0);
        let start = Start { entry: 0x4030_0000, context: 1, cntvoff: None };
        assert_eq!(g.request(1, start), Ok(()));
        g.take(1);
        assert_eq!(g.request(2, start), Ok(()), "vCPU 2 asked to start, not started yet");
        g.off(1); // vCPU 1 turned off (in the board: after its kick)
        let kicked = std::cell::RefCell::new(Vec::new());
        g.halt_others(0, |cpu| kicked.borrow_mut().push(cpu));
        assert_eq!(*kicked.borrow(), [] as [u64; 0], "nobody else was on");
        assert_eq!((g.power(1), g.power(2)), (Some(Power::Off), Some(Power::Off)), "the pending start withdrawn");
        assert_eq!(g.take(2), None);
        assert_eq!(g.power(0), Some(Power::On), "the restarting vCPU itself");
    }

    #[test]
    fn a_restart_kicks_the_vcpus_that_are_on() {
        let g = group(2);
        g.take(0);
        g.request(1, Start { entry: 0, context: 0, cntvoff: None }).unwrap();
        g.take(1);
        // The kick stands for the other CPU's exit: it turns its vCPU off.
        g.halt_others(1, |cpu| {
            assert_eq!(cpu, 1, "vCPU 0's CPU");
            g.off(0);
        });
        assert_eq!(g.power(0), Some(Power::Off));
    }

    #[test]
    fn cpu_on_then_off() {
        let g = group(3);
        g.take(0);
        let start = Start { entry: 0x4030_0000, context: 42, cntvoff: Some(1234) };
        assert_eq!(g.request(0, start), Err(OnError::AlreadyOn));
        assert_eq!(g.request(3, start), Err(OnError::NoSuchCpu));
        assert_eq!(g.request(9, start), Err(OnError::NoSuchCpu));
        assert_eq!(g.request(2, start), Ok(()));
        assert_eq!(g.request(2, start), Err(OnError::OnPending));
        assert_eq!(g.power(2), Some(Power::OnPending));
        assert_eq!(g.others_on(0).collect::<Vec<_>>(), [5]);
        assert_eq!(g.take(2), Some(start));
        assert_eq!(g.request(2, start), Err(OnError::AlreadyOn));
        assert!(!g.off(2), "vCPU 0 is still on");
        assert_eq!(g.power(2), Some(Power::Off));
        assert_eq!(g.request(2, start), Ok(()), "a vCPU that went off can be started again");
        g.take(2);
        assert!(!g.off(0));
        assert!(g.off(2), "the last vCPU off");
    }
}
