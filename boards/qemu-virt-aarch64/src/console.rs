//! The physical console: the PL011 the hypervisor owns, shared by its own lines and every
//! partition's (`hv::console::ConsoleMux`), and what the operator types
//! (`hv::console_input::InputRouter`: to the partition with the input focus; Ctrl-A then
//! an id moves it). One lock around all three.
//!
//! Input arrives by interrupt when there is a GIC: the UART's receive interrupt is the
//! hypervisor's own (`irq::claim`), routed to the CPU of vCPU 0 of the partition with the
//! focus, or, once that one has stopped, of another running partition with an emulated
//! console (so Ctrl-A still reaches the others). [`interrupt`] moves what was typed into
//! the router and hands each partition its bytes (`hv::run::console_input_arrived`): its
//! emulated UART's interrupt line drives the partition's virtual SPI, which wakes the vCPU
//! that takes it, asleep in WFI or not, on whatever CPU. Without a GIC the bytes are taken
//! when a partition polls its UART.
//!
//! Prompts (a partial line the partition waits behind): shown when a polling partition
//! finds nothing typed (`ConsoleMux::prompt_if_waiting`), and when the output has paused
//! behind an unfinished line for [`PROMPT_AFTER_MS`]: each write that leaves one arms the
//! writing CPU's deadline (`armv8::deadline`, the EL2 physical timer), each further write
//! moves it, a finished line turns it off; no timer runs otherwise.

use armv8::uart::Pl011;
use armv8::{deadline, guest_dt, irq};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use hv::config::MAX_PARTITIONS;
use hv::console::ConsoleMux;
use hv::console_input::{InputRouter, Typed};
use hv::partition::PartitionRt;

use crate::partitions;
use crate::{UART_BASE, UART_INTID};

pub struct Console {
    pub mux: ConsoleMux,
    pub input: InputRouter,
    pub uart: Pl011,
}

/// Set by [`init`] before any partition runs.
static CONSOLE: spin::Mutex<Option<Console>> = spin::Mutex::new(None);
/// Input arrives by interrupt ([`interrupt`]), not when partitions poll.
static BY_INTERRUPT: AtomicBool = AtomicBool::new(false);
/// The partition with the input focus (a copy of the router's, [`NO_FOCUS`] if none), and
/// a lock of its own for moving the receive interrupt: [`route_input`] runs when a vCPU 0
/// starts, which must not wait for the console.
static FOCUS: AtomicU32 = AtomicU32::new(NO_FOCUS);
const NO_FOCUS: u32 = u32::MAX;
static ROUTING: spin::Mutex<()> = spin::Mutex::new(());

/// Runs `f` on the console (nothing before [`init`] set it up).
pub fn with_console(f: impl FnOnce(&mut Console)) {
    if let Some(c) = CONSOLE.lock().as_mut() {
        f(c);
    }
}

/// The console, with the input focus on partition `focus`; with `interrupts` (a GIC), its
/// receive interrupt claimed, enabled at the UART and routed once a partition runs.
pub fn init(focus: Option<u32>, interrupts: bool) {
    let mut input = InputRouter::new();
    if let Some(id) = focus {
        input.set_focus(id);
        FOCUS.store(id, Ordering::Release);
    }
    // SAFETY: UART_BASE is QEMU virt's PL011: a device at its physical address, with the
    // MMU off now and identity-mapped as a device once it is on.
    let uart = unsafe { Pl011::new(UART_BASE) };
    if interrupts {
        irq::claim(UART_INTID, interrupt);
        uart.enable_rx_interrupt();
        BY_INTERRUPT.store(true, Ordering::Release);
    }
    *CONSOLE.lock() = Some(Console { mux: ConsoleMux::new(), input, uart });
    deadline::claim(prompt_deadline);
}

/// How long a partition's output pauses behind an unfinished line before that line is
/// shown as its prompt.
const PROMPT_AFTER_MS: u64 = 100;

/// Bytes from partition `p`'s console. If they leave its line unfinished, this CPU's
/// deadline is set [`PROMPT_AFTER_MS`] from now (moved by each further write):
/// [`prompt_deadline`] shows the line then, if nothing has finished it. A partition waiting
/// for input with interrupts says nothing to the hypervisor (on GICv3 its WFI is not
/// trapped), so a pause in its output is what tells a prompt.
pub fn write(p: &PartitionRt, bytes: &[u8]) {
    let mut unfinished = false;
    with_console(|c| {
        let Console { mux, uart, .. } = c;
        mux.write(p.id, &p.name, bytes, &mut |out| uart.write_bytes(out));
        unfinished = mux.unshown(p.id);
    });
    if unfinished {
        deadline::arm_in(deadline::ticks_in_ms(PROMPT_AFTER_MS));
    } else {
        deadline::disarm();
    }
}

/// This CPU's deadline expired ([`write`]): the partition it runs has written nothing for
/// [`PROMPT_AFTER_MS`]; its unfinished line, if it still has one, is shown.
fn prompt_deadline() {
    if let Some(p) = partitions::here() {
        with_console(|c| c.mux.show_partial(p.id, &p.name, &mut |b| c.uart.write_bytes(b)));
    }
}

/// Partition `p` restarts: its unfinished line (cut off by the restart) is ended.
pub fn end_line(p: &PartitionRt) {
    with_console(|c| {
        let Console { mux, uart, .. } = c;
        mux.end_line(p.id, &p.name, &mut |b| uart.write_bytes(b));
    });
}

/// A hypervisor line, `hv: ...`.
pub fn message(args: fmt::Arguments) {
    with_console(|c| {
        let Console { mux, uart, .. } = c;
        mux.end_partial(&mut |b| uart.write_bytes(b));
        let _ = writeln!(uart, "hv: {args}");
    });
}

/// What the operator typed for partition `p`, up to `buf.len()` bytes (see
/// `hv::console_input`). With nothing typed, the partition is waiting: its prompt (a
/// partial line) is shown.
pub fn input(p: &PartitionRt, buf: &mut [u8]) -> usize {
    let mut n = 0;
    with_console(|c| {
        if !BY_INTERRUPT.load(Ordering::Acquire) {
            take_typed(c, &mut [false; MAX_PARTITIONS]);
        }
        n = c.input.take(p.id, buf);
        if n == 0 {
            c.mux.prompt_if_waiting(p.id, &p.name, &mut |b| c.uart.write_bytes(b));
        }
    });
    n
}

/// The UART's receive interrupt, on the CPU it is routed to (`irq::own`): what was typed
/// goes to the router, then to each partition it is for.
fn interrupt() {
    let mut arrived = [false; MAX_PARTITIONS];
    with_console(|c| take_typed(c, &mut arrived));
    for id in (0..MAX_PARTITIONS as u32).filter(|&id| arrived[id as usize]) {
        if let Some((rt, gic)) = partitions::running(id) {
            hv::run::console_input_arrived(rt, partitions::platform(), &mut |high| gic.set_line(guest_dt::UART_INTID, high));
        }
    }
}

/// Moves what the operator typed from the UART into the router; `arrived[id]`: bytes were
/// queued for partition `id`. A focus change is said on the console, and the receive
/// interrupt follows the focus.
fn take_typed(c: &mut Console, arrived: &mut [bool; MAX_PARTITIONS]) {
    let mut moved = false;
    {
        let Console { mux, input, uart } = c;
        let has_console = |id: u32| partitions::has_console(id);
        while let Some(byte) = uart.get() {
            match input.type_byte(byte, &has_console) {
                Typed::For(id) => {
                    if let Some(a) = arrived.get_mut(id as usize) {
                        *a = true;
                    }
                }
                Typed::Focus(id) => {
                    mux.end_partial(&mut |b| uart.write_bytes(b));
                    let _ = writeln!(uart, "hv: console input to partition {id}");
                    FOCUS.store(id, Ordering::Release);
                    moved = true;
                }
                Typed::Nothing => {}
            }
        }
    }
    if moved {
        route_input();
    }
}

/// Routes the receive interrupt to the CPU that should take it now (see the module
/// comment), or disables it when no partition with a console runs. On GICv2 a CPU that has
/// not set up its GIC interface yet cannot be named: it routes the interrupt itself when
/// its vCPU 0 starts (`partitions::run_here`).
pub fn route_input() {
    if BY_INTERRUPT.load(Ordering::Acquire) {
        let _one_at_a_time = ROUTING.lock();
        let focus = FOCUS.load(Ordering::Acquire);
        irq::route_own(partitions::input_cpu((focus != NO_FOCUS).then_some(focus)));
    }
}
