//! SMP: the boot CPU starts CPUs 1 and 2 with PSCI CPU_ON, checks AFFINITY_INFO before
//! and after, sends SGIs from each CPU to another (GICv3 ICC_SGI1R_EL1, GICv2 GICD_SGIR)
//! and waits until they are taken, has CPU 2 turn itself off with CPU_OFF (and starts it
//! once more), then asks for SYSTEM_RESET with CPU 1 still on; the second boot does it all
//! again and powers off. Natively QEMU's reset restarts the machine (CPU 0 at the entry,
//! the others off, RAM kept); in a bulkhead partition the hypervisor stops every vCPU,
//! reloads the image and restarts vCPU 0. A word of RAM outside the image counts the boots.
//!
//! Only the boot CPU prints, each line after the event it reports has happened, so the
//! output is the same natively (QEMU virt, GICv2, `-smp 4`) and as a partition with 3
//! vCPUs on either GIC version.
//!
//! Between CPUs: the boot CPU writes a command for a secondary and rings its doorbell
//! (SGI 1); the secondary carries it out and reports with SGI 2 to CPU 0, which also
//! follows every PING (SGI 3) a secondary takes. Each counter has one writer.
//!
//! One SGI goes to CPU 3, which this guest never starts: natively it stays pending at an
//! off CPU; a partition with three vCPUs has no CPU 3, and the hypervisor refuses it
//! (`sent an IPI to CPU 0x3 it does not have; ignored`).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use guests_aarch64::smp::{self, affinity_name, psci_name, AFFINITY_OFF};
use guests_aarch64::{gic, irqs_on, on_irq, println, wait_until};

/// CPUs this guest runs on: the boot CPU 0, then 1 and 2.
const CPUS: usize = 3;
/// A CPU it never starts.
const NEVER_STARTED: usize = 3;
/// SGIs: a command waits (to a secondary), something happened (to CPU 0), the test SGI.
const DOORBELL: u32 = 1;
const DONE: u32 = 2;
const PING: u32 = 3;
/// Commands (bits 15:8 of [`COMMAND`]; 7:0 are the CPUs to ping).
const CMD_PING: u32 = 1;
const CMD_OFF: u32 = 2;

/// A word of RAM no image, tree or stack uses (natively and in the partition): the boot
/// count. Written with the MMU off, so it goes straight to memory and survives a reset.
const BOOTS: usize = 0x40f0_0000;
const MAGIC: u32 = 0x5350_0000; // "SP" << 16 | count

/// Per CPU: started and running its loop; pings taken; its last command (sequence << 16 |
/// command << 8 | targets) and the last sequence it finished.
static UP: [AtomicBool; CPUS] = [const { AtomicBool::new(false) }; CPUS];
static PINGS: [AtomicU32; CPUS] = [const { AtomicU32::new(0) }; CPUS];
static COMMAND: [AtomicU32; CPUS] = [const { AtomicU32::new(0) }; CPUS];
static FINISHED: [AtomicU32; CPUS] = [const { AtomicU32::new(0) }; CPUS];

/// Every CPU's interrupt handler: counts pings; a secondary tells CPU 0 about each one.
fn irq(intid: u32) {
    let me = gic::cpu();
    if intid == PING {
        if let Some(p) = PINGS.get(me) {
            p.store(p.load(Ordering::Relaxed) + 1, Ordering::Release);
        }
        if me != 0 {
            gic::send_sgi(DONE, 1);
        }
    }
}

/// What CPUs 1 and 2 run: wait for the doorbell, carry out the command, report.
fn secondary(me: usize) -> ! {
    gic::init_cpu();
    gic::enable_private(DOORBELL);
    gic::enable_private(PING);
    // A command left from this CPU's previous run (before a CPU_OFF) is not new; one
    // written once UP is set is.
    let mut done = COMMAND[me].load(Ordering::Acquire) >> 16;
    irqs_on();
    UP[me].store(true, Ordering::Release);
    gic::send_sgi(DONE, 1);
    loop {
        wait_until(|| COMMAND[me].load(Ordering::Acquire) >> 16 != done);
        let c = COMMAND[me].load(Ordering::Acquire);
        done = c >> 16;
        match (c >> 8) & 0xff {
            CMD_PING => gic::send_sgi(PING, (c & 0xff) as u16),
            CMD_OFF => {
                UP[me].store(false, Ordering::Release);
                FINISHED[me].store(done, Ordering::Release);
                gic::send_sgi(DONE, 1);
                smp::cpu_off();
            }
            _ => {}
        }
        FINISHED[me].store(done, Ordering::Release);
        gic::send_sgi(DONE, 1);
    }
}

/// CPU 0's side of a command: write it, ring the doorbell, wait until it is done.
fn command(cpu: usize, op: u32, targets: u16, seq: &mut u32) {
    *seq += 1;
    let s = *seq;
    COMMAND[cpu].store(s << 16 | op << 8 | u32::from(targets), Ordering::Release);
    gic::send_sgi(DOORBELL, 1 << cpu);
    wait_until(|| FINISHED[cpu].load(Ordering::Acquire) == s);
}

/// Starts `cpu` and reports what PSCI says before, during and after.
fn start(cpu: usize) {
    println!("smp: cpu {cpu} before CPU_ON: {}", affinity_name(smp::affinity_info(cpu)));
    println!("smp: CPU_ON cpu {cpu}: {}", psci_name(smp::cpu_on(cpu, secondary)));
    wait_until(|| UP[cpu].load(Ordering::Acquire));
    println!("smp: cpu {cpu} up: {}", affinity_name(smp::affinity_info(cpu)));
    println!("smp: CPU_ON cpu {cpu} again: {}", psci_name(smp::cpu_on(cpu, secondary)));
}

/// CPU `from` pings the CPUs in `to`; waits until each has taken one more.
fn ping(from: usize, to: u16, seq: &mut u32) {
    let targets = (0..CPUS).filter(|&c| to & (1 << c) != 0);
    let before: [u32; CPUS] = core::array::from_fn(|c| PINGS[c].load(Ordering::Acquire));
    if from == 0 {
        gic::send_sgi(PING, to);
    } else {
        command(from, CMD_PING, to, seq);
    }
    wait_until(|| targets.clone().all(|c| PINGS[c].load(Ordering::Acquire) > before[c]));
    for c in targets {
        println!("smp: SGI {PING} cpu {from} -> cpu {c}: taken");
    }
}

/// Has `cpu` turn itself off, and waits (bounded) for AFFINITY_INFO to say so.
fn turn_off(cpu: usize, seq: &mut u32) {
    command(cpu, CMD_OFF, 0, seq);
    let off = (0..1_000_000).any(|_| smp::affinity_info(cpu) == AFFINITY_OFF);
    println!("smp: cpu {cpu} after CPU_OFF: {}", if off { "off" } else { "still on" });
}

#[no_mangle]
fn main() {
    // SAFETY: BOOTS is RAM of this machine/partition that nothing else uses.
    let word = unsafe { core::ptr::read_volatile(BOOTS as *const u32) };
    let boot = if word & 0xffff_0000 == MAGIC { (word & 0xffff) + 1 } else { 1 };
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(BOOTS as *mut u32, MAGIC | boot) };
    println!("smp: boot {boot}");
    gic::init();
    on_irq(irq);
    gic::enable_private(DONE);
    gic::enable_private(PING);
    irqs_on();
    let mut seq = 0;
    start(1);
    start(2);
    ping(0, 1 << 1, &mut seq);
    ping(1, 1 << 2, &mut seq);
    ping(2, 1 << 0, &mut seq);
    ping(0, 1 << 1 | 1 << 2, &mut seq);
    println!("smp: SGI {PING} cpu 0 -> cpu {NEVER_STARTED} (never started)");
    gic::send_sgi(PING, 1 << NEVER_STARTED);
    turn_off(2, &mut seq);
    start(2);
    ping(0, 1 << 2, &mut seq);
    turn_off(2, &mut seq);
    if boot == 1 {
        println!("smp: SYSTEM_RESET with cpu 1 on");
        smp::system_reset();
        println!("smp: SYSTEM_RESET returned");
    }
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(BOOTS as *mut u32, 0) };
    println!("smp: done");
}
