//! The IDT for the hypervisor's own CPU exceptions (see [`crate::trap`]).

use core::arch::{asm, global_asm};

use crate::gdt::KERNEL_CS;

/// Exceptions (the architecture defines 0-31); the interrupt vectors above them reach the
/// hypervisor only in `irq::wait_for_kick`, whose gates return at once, as the NMI's.
const VECTORS: usize = 32;
const ALL_VECTORS: usize = 256;
const NMI: usize = 2;
/// Vectors for which the CPU pushes an error code: 8, 10-14, 17, 21, 29, 30.
const ERROR_CODE_VECTORS: u32 = 0x6022_7d00;
/// Bytes between consecutive stubs (each is aligned to this).
const STUB_SIZE: usize = 16;
/// IDT gate: present, DPL 0, 64-bit interrupt gate (IF cleared on entry).
const GATE_INTERRUPT: u8 = 0x8e;

/// Short names, indexed by vector (SDM Vol. 3A, table 6-1).
const NAMES: [&str; VECTORS] = [
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
    "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor segment overrun",
    "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
    "#PF page fault", "reserved", "#MF x87 error", "#AC alignment check", "#MC machine check",
    "#XM SIMD error", "#VE virtualization exception", "#CP control protection", "reserved",
    "reserved", "reserved", "reserved", "reserved", "reserved", "#HV hypervisor injection",
    "#VC VMM communication", "#SX security", "reserved",
];

/// What the stubs and the CPU leave on the stack, lowest address first.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

global_asm!(
    ".pushsection .text.trap, \"ax\"",
    ".p2align 4",
    ".global vtx_trap_stubs",
    "vtx_trap_stubs:",
    ".set vector, 0",
    ".rept {vectors}",
    ".p2align 4",                                 // stub v at vtx_trap_stubs + v * STUB_SIZE
    ".if (({error_vectors} >> vector) & 1) == 0",
    "pushq $0",                                   //   no error code from the CPU: push a 0 in its place
    ".endif",
    "pushq $vector",                              //   the vector number
    "jmp vtx_trap_common",
    ".set vector, vector + 1",
    ".endr",
    "vtx_interrupt_in_host:",                     // an interrupt while waiting for a kick:
    "iretq",                                      //   the waiter ends it
    "vtx_trap_common:",
    "mov %rsp, %rdi",                             // argument 1: the TrapFrame
    "and $-16, %rsp",                             // the ABI's stack alignment for the call
    "call {handle}",                              // never returns
    "ud2",
    ".popsection",
    vectors = const VECTORS,
    error_vectors = const ERROR_CODE_VECTORS,
    handle = sym handle,
    options(att_syntax),
);

/// A 64-bit IDT gate descriptor.
#[repr(C)]
#[derive(Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    attributes: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

const _: () = assert!(core::mem::size_of::<Gate>() == 16);

impl Gate {
    fn interrupt(handler: u64) -> Gate {
        Gate {
            offset_low: handler as u16,
            selector: KERNEL_CS,
            ist: 0,
            attributes: GATE_INTERRUPT,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

/// The operand of LIDT.
#[repr(C, packed)]
struct IdtPointer {
    limit: u16,
    base: u64,
}

static IDT: spin::Once<[Gate; ALL_VECTORS]> = spin::Once::new();

/// Builds the IDT and loads it on this CPU. Call first thing in `main`.
pub fn init() {
    unsafe extern "C" {
        // The first stub in the global_asm above; the others follow every STUB_SIZE bytes.
        static vtx_trap_stubs: u8;
        static vtx_interrupt_in_host: u8;
    }
    let stubs = core::ptr::addr_of!(vtx_trap_stubs) as u64;
    let interrupt = core::ptr::addr_of!(vtx_interrupt_in_host) as u64;
    // An NMI is another CPU's `irq::force_exit`: nothing to do in the hypervisor.
    let gate = |v| Gate::interrupt(if v < VECTORS && v != NMI { stubs + (v * STUB_SIZE) as u64 } else { interrupt });
    let idt = IDT.call_once(|| core::array::from_fn(gate));
    let pointer = IdtPointer { limit: (core::mem::size_of_val(idt) - 1) as u16, base: idt.as_ptr() as u64 };
    // SAFETY: the IDT is a static that lives for ever and every gate points at a stub
    // above, all with the GDT's code selector.
    unsafe { asm!("lidt [{}]", in(reg) &pointer, options(readonly, nostack, preserves_flags)) }
}

/// Where every CPU exception of the hypervisor ends.
extern "C" fn handle(frame: &TrapFrame) -> ! {
    let name = NAMES.get(frame.vector as usize).copied().unwrap_or("?");
    let cr2: u64;
    // SAFETY: reading CR2 (the page-fault address) has no side effect.
    unsafe { asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack, preserves_flags)) }
    panic!(
        "cpu exception {} ({name}), error code {:#x}, rip {:#x}, rsp {:#x}, cr2 {:#x}",
        frame.vector, frame.error_code, frame.rip, frame.rsp, cr2
    )
}
