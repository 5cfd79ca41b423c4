//! uart-irq: a passthrough device's interrupt. The guest owns COM4 (ports 0x2e8..0x2ef,
//! ISA IRQ 3 on this board), programs the 8259s as a PC kernel does (vector base 0x20, only
//! line 3 unmasked) and the UART's transmitter-empty interrupt; each interrupt sends one
//! more byte (which empties the transmitter again, and interrupts again) until the fifth.
//! The handler reads the UART's interrupt identification and the 8259's in-service
//! register, then ends the interrupt (EOI). Under bulkhead, the hypervisor's I/O APIC
//! routes IRQ 3 to the partition's CPU and the vCPU's 8259 delivers it at the guest's own
//! vector; natively, Bochs's 8259 does. The lines must be the same.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use guests_x86::{inb, interrupts_off, outb, pic, println, set_trap_handler, wait_for_interrupt, Frame};

const COM4: u16 = 0x2e8;
const IER: u16 = 1;
const IIR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const MSR: u16 = 6;
/// IER: transmitter holding register empty; MCR: DTR, RTS and OUT2 (which gates the
/// UART's interrupt onto the ISA line on a PC).
const IER_THRE: u8 = 0x02;
const MCR_OUT2: u8 = 0x0b;
const LCR_8N1: u8 = 0x03;
const IRQ: u8 = 3;
const BASE: u8 = 0x20;
const INTERRUPTS: u32 = 5;

static COUNT: AtomicU32 = AtomicU32::new(0);

fn on_trap(f: &mut Frame) -> bool {
    if f.vector != u64::from(BASE + IRQ) {
        return false;
    }
    let n = COUNT.load(Ordering::Relaxed) + 1;
    COUNT.store(n, Ordering::Relaxed);
    // SAFETY: COM4 is this guest's; reading IIR acknowledges the transmitter interrupt.
    let iir = unsafe { inb(COM4 + IIR) };
    println!("uart-irq: interrupt {n}: iir {iir:#x}, in service {:#x}", pic::master_register(true));
    // SAFETY: COM4's transmit and interrupt-enable registers.
    unsafe {
        if n < INTERRUPTS {
            outb(COM4, b'.');
        } else {
            outb(COM4 + IER, 0);
        }
    }
    pic::eoi();
    true
}

#[no_mangle]
fn main() {
    set_trap_handler(on_trap);
    println!("uart-irq: COM4 transmitter interrupts on IRQ {IRQ}");
    pic::init(BASE, BASE + 8);
    pic::set_masks([!(1 << IRQ), 0xff]);
    let [m, s] = pic::masks();
    println!("uart-irq: 8259 masks {m:#x} {s:#x}");
    // SAFETY: COM4's registers. First quiet (a warm start, a partition restart, may find
    // an interrupt pending: reading IIR, LSR, RBR and MSR clears every cause); then line
    // and modem control, and its interrupt: it interrupts at once (the transmitter is
    // empty).
    unsafe {
        outb(COM4 + IER, 0);
        for reg in [IIR, LSR, 0, MSR] {
            inb(COM4 + reg);
        }
        outb(COM4 + LCR, LCR_8N1);
        outb(COM4 + MCR, MCR_OUT2);
        outb(COM4 + IER, IER_THRE);
    }
    interrupts_off();
    while COUNT.load(Ordering::Relaxed) < INTERRUPTS {
        wait_for_interrupt();
    }
    // Only its own line: natively the PIT's (masked) IRQ 0 may be latched too.
    let left = pic::master_register(false) & 1 << IRQ != 0;
    println!("uart-irq: {INTERRUPTS} interrupts, IRQ {IRQ} still requested: {left}");
    pic::set_masks([0xff, 0xff]);
}
