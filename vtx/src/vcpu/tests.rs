//! The vCPU's decisions on the host, over a VMCS in memory (`vmcs`'s test table).

use super::*;
use crate::ioports;
use hv::exit::{PowerRequest, Refusal};
use crate::emulate;
use crate::vmcs::{pin, proc, read, write, *};
use hv::exit::Vcpu as _;

const ENTRY: u64 = 0x10_000c;
/// The test vCPUs' partition: two vCPUs on CPUs 4 and 6, both on.
static GROUP: crate::smp::Group = crate::smp::Group::new();

fn two_vcpus_on() {
    GROUP.register(&[4, 6]);
    GROUP.request(0, crate::smp::Start::Boot { entry: ENTRY, info: INFO });
    GROUP.take(0);
    GROUP.send(0, crate::vlapic::Ipi { dest: 1, kind: crate::vlapic::IpiKind::Startup(8) });
    GROUP.take(1);
}
const INFO: u64 = 0xff_f000;

fn vcpu(console: bool) -> Vcpu {
    let mut v = Vcpu {
        ctx: Context::default(),
        index: 0,
        console,
        lapic: VLapic::new(0),
        shutdown: ShutdownPort::default(),
        pic: VPic::new(1 << 3),
        last_reason: 0,
        proc: 0,
        pin: 0,
        controls: hw::Controls::default(),
        timer_rate: 0,
        injecting: false,
        group: &GROUP,
        core: None,
    };
    v.reset(ENTRY, INFO);
    v
}

/// The CPU's side of an exit: reason, qualification, instruction length.
fn exit(v: &mut Vcpu, reason: u16, qualification: u64, length: u64) -> Option<Exit> {
    // SAFETY: the test VMCS.
    unsafe {
        write(EXIT_REASON, u64::from(reason));
        write(EXIT_QUALIFICATION, qualification);
        write(EXIT_INSTRUCTION_LENGTH, length);
    }
    v.exit()
}

fn rip() -> u64 {
    read(GUEST_RIP)
}

#[test]
fn boots_as_a_multiboot_kernel() {
    let v = vcpu(true);
    assert_eq!((v.ctx.gpr[RAX], v.ctx.gpr[RBX]), (0x2bad_b002, INFO));
    assert_eq!(rip(), ENTRY);
    assert_eq!(read(GUEST_CS_ACCESS), 0xc09b, "32-bit flat code");
    assert_eq!(read(CR0_READ_SHADOW), 0x31, "PE, ET, NE; paging off");
    assert_eq!(read(GUEST_RFLAGS), 2, "interrupts off");
    assert_eq!(read(VMCS_LINK_POINTER), u64::MAX);
}

#[test]
fn a_restart_drops_the_translations_cached_under_its_vpid() {
    let mut v = vcpu(true);
    v.controls.vpid = Some(crate::cpu::Vpid { tag: 3, invvpid: crate::vmx::INVVPID_SINGLE_CONTEXT });
    crate::vmx::INVVPIDS.with(|c| c.borrow_mut().clear());
    v.reset(ENTRY, INFO);
    assert_eq!(crate::vmx::INVVPIDS.with(|c| c.borrow().clone()), [(crate::vmx::INVVPID_SINGLE_CONTEXT, 3)]);
    let e = exit(&mut v, reason::TRIPLE_FAULT, 0, 0);
    let Some(Exit::Fault(f)) = e else { panic!("{e:?}") };
    v.inject(&f); // back to the boot state, halted: a fresh start too
    assert_eq!(crate::vmx::INVVPIDS.with(|c| c.borrow().len()), 2);
    let _ = exit(&mut v, reason::VMCALL, 0, VMCALL_LENGTH);
    v.hypercall_return([0; 4]);
    assert_eq!(crate::vmx::INVVPIDS.with(|c| c.borrow().len()), 2, "an ordinary exit keeps them");
}

#[test]
fn a_hypercall_returns_its_results_after_the_vmcall() {
    let mut v = vcpu(true);
    v.ctx.gpr[RAX] = hv::hypercall::VERSION;
    (v.ctx.gpr[RDI], v.ctx.gpr[RSI], v.ctx.gpr[RDX], v.ctx.gpr[RCX]) = (1, 2, 3, 4);
    assert_eq!(exit(&mut v, reason::VMCALL, 0, VMCALL_LENGTH), Some(Exit::Hypercall));
    assert_eq!(v.hypercall_args(), (hv::hypercall::VERSION, [1, 2, 3, 4]));
    v.hypercall_return([0, 1 << 16, 7, 8]);
    assert_eq!(&v.ctx.gpr[..8], &[0, 4, 8, INFO, 0, 0, 7, 1 << 16], "RAX, RDI, RSI, RDX set; RCX, RBX kept");
    assert_eq!(rip(), ENTRY + VMCALL_LENGTH);
}

#[test]
fn the_console_ports_go_to_the_core_as_mmio() {
    let mut v = vcpu(true);
    v.ctx.gpr[RAX] = 0x1234_5641;
    // out dx, al to 0x3f8 (1 byte).
    let e = exit(&mut v, reason::IO, 0x03f8_0000, 1);
    let a = MmioAccess { addr: ioports::io_address(0x3f8), width: Width::Byte, write: Some(0x41), reg: 0, sign_extend: false };
    assert_eq!(e, Some(Exit::Mmio(a)));
    // in al, dx from 0x3fd (LSR): the upper bits of RAX stay.
    let e = exit(&mut v, reason::IO, 0x03fd_0008, 1);
    let Some(Exit::Mmio(a)) = e else { panic!("{e:?}") };
    assert_eq!((a.addr, a.write), (ioports::io_address(0x3fd), None));
    v.mmio_complete(&a, 0x60);
    assert_eq!(v.ctx.gpr[RAX], 0x1234_5660);
    assert_eq!(rip(), ENTRY + 1);

    let mut none = vcpu(false);
    let e = exit(&mut none, reason::IO, 0x03f8_0000, 1);
    assert_eq!(e, Some(Exit::Fault(Fault::Forbidden { syndrome: trap::syndrome(30, 0x03f8_0000) })), "no emulated console");
    assert_eq!(rip(), ENTRY, "not stepped");
}

#[test]
fn the_shutdown_port_powers_the_partition_off() {
    let mut v = vcpu(false);
    let mut last = None;
    for &b in b"Shutdown" {
        v.ctx.gpr[RAX] = u64::from(b);
        last = exit(&mut v, reason::IO, 0x8900_0000, 1);
        if b != b'n' {
            assert_eq!(last, Some(Exit::Emulated(None)));
        }
    }
    assert_eq!(last, Some(Exit::Power(PowerRequest::SystemOff)));
    assert_eq!(rip(), ENTRY + 8);
}

#[test]
fn apic_msrs_are_emulated_others_refused_with_gp() {
    let mut v = vcpu(true);
    v.ctx.gpr[RCX] = u64::from(crate::vlapic::APIC_BASE);
    (v.ctx.gpr[RAX], v.ctx.gpr[RDX]) = (0xfee0_0d00, 0);
    assert_eq!(exit(&mut v, reason::WRMSR, 0, 2), Some(Exit::Emulated(None)), "x2APIC mode on");
    v.ctx.gpr[RCX] = 0x803;
    assert_eq!(exit(&mut v, reason::RDMSR, 0, 2), Some(Exit::Emulated(None)));
    assert_eq!((v.ctx.gpr[RAX], v.ctx.gpr[RDX]), (0x0005_0014, 0), "version in EDX:EAX");
    assert_eq!(rip(), ENTRY + 4);

    v.ctx.gpr[RCX] = 0x3a; // IA32_FEATURE_CONTROL
    let f = Fault::Forbidden { syndrome: trap::syndrome(32, 0x3a) };
    assert_eq!(exit(&mut v, reason::WRMSR, 0, 2), Some(Exit::Fault(f)));
    assert!(emulate::msr_exits(0x3a, true));
    v.inject(&f);
    assert_eq!(read(ENTRY_INTERRUPTION_INFO), 0x8000_0b0d, "#GP, hardware exception, error code");
    assert_eq!(read(ENTRY_EXCEPTION_ERROR_CODE), 0);
    assert_eq!(rip(), ENTRY + 4, "at the WRMSR");

    // SAFETY: the test VMCS: the guest went back to real mode (unrestricted guest).
    unsafe { write(GUEST_CR0, 0x30) };
    v.inject(&f);
    assert_eq!(read(ENTRY_INTERRUPTION_INFO), 0x8000_030d, "no error code in real mode: VM entry would refuse it");
}

#[test]
fn vmx_instructions_and_undefined_hypercalls_raise_ud() {
    let mut v = vcpu(true);
    let e = exit(&mut v, reason::VMXON, 0, 4);
    let Some(Exit::Fault(f)) = e else { panic!("{e:?}") };
    v.inject(&f);
    assert_eq!(read(ENTRY_INTERRUPTION_INFO), 0x8000_0306, "#UD, no error code");
    exit(&mut v, reason::VMCALL, 0, 3);
    v.inject(&Fault::Hypercall { number: 0xc600_0042 });
    assert_eq!(read(ENTRY_INTERRUPTION_INFO) & 0xff, 6);
}

#[test]
fn cpuid_is_answered_in_the_vcpu() {
    let mut v = vcpu(true);
    v.ctx.gpr[RAX] = 0x4000_0000;
    assert_eq!(exit(&mut v, reason::CPUID, 0, 2), None);
    assert_eq!(v.ctx.gpr[RBX], u64::from(u32::from_le_bytes(*b"bulk")));
    assert_eq!(rip(), ENTRY + 2);
}

#[test]
fn hlt_idles_in_the_guest_until_its_timer() {
    let mut v = vcpu(true);
    // SAFETY: the test VMCS: an STI shadow on the HLT.
    unsafe { write(GUEST_INTERRUPTIBILITY, 1) };
    assert_eq!(exit(&mut v, reason::HLT, 0, 1), Some(Exit::Idle));
    assert_eq!((rip(), read(GUEST_INTERRUPTIBILITY)), (ENTRY + 1, 0), "stepped, out of the STI shadow");
    v.idle();
    v.before_entry();
    assert_eq!(read(GUEST_ACTIVITY_STATE), ACTIVITY_HLT, "the CPU halts in the guest");
    assert_eq!(v.pin & pin::PREEMPTION_TIMER, 0, "no timer armed: nothing will wake the hypervisor");
}

#[test]
fn the_virtual_timer_is_delivered_when_due() {
    let mut v = vcpu(true);
    v.lapic.write(crate::vlapic::APIC_BASE, 0xfee0_0d00).unwrap();
    v.lapic.write(0x80f, 0x1ff).unwrap();
    v.lapic.write(0x832, 0x40 | 0b10 << 17).unwrap();
    let far = crate::cpu::rdtsc() + (1 << 40);
    v.lapic.write(crate::vlapic::TSC_DEADLINE, far).unwrap();
    v.before_entry();
    assert_ne!(v.pin & pin::PREEMPTION_TIMER, 0, "armed for the deadline");
    assert!(read(PREEMPTION_TIMER_VALUE) > 0);
    assert_eq!(read(ENTRY_INTERRUPTION_INFO), 0, "not yet");

    v.lapic.write(crate::vlapic::TSC_DEADLINE, 1).unwrap(); // long past; the guest's IF is 0
    v.before_entry();
    assert_ne!(v.proc & proc::INTERRUPT_WINDOW_EXITING, 0, "waits for an interrupt window");
    assert_eq!(v.pin & pin::PREEMPTION_TIMER, 0, "nothing left to time");
    // SAFETY: the test VMCS: the guest sets IF and halts.
    unsafe { write(GUEST_RFLAGS, 0x202) };
    v.idle();
    assert_eq!(exit(&mut v, reason::INTERRUPT_WINDOW, 0, 0), Some(Exit::Interrupt));
    v.before_entry();
    assert_eq!(read(ENTRY_INTERRUPTION_INFO), 0x8000_0040, "external interrupt 0x40");
    assert_eq!(read(GUEST_ACTIVITY_STATE), ACTIVITY_ACTIVE, "woken");
    assert_eq!(v.proc & proc::INTERRUPT_WINDOW_EXITING, 0);
}

/// `out dx, al` of `value` to `port`, as the exit path sees it.
fn out(v: &mut Vcpu, port: u16, value: u8) -> Option<Exit> {
    v.ctx.gpr[RAX] = u64::from(value);
    exit(v, reason::IO, u64::from(port) << 16, 1)
}

#[test]
fn a_passthrough_devices_interrupt_reaches_the_guest_through_its_8259() {
    let mut v = vcpu(true);
    // The guest's 8259 set-up: vector base 0x20 (master) and 0x28, only IRQ 3 unmasked.
    for (port, value) in [(0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01), (0xa0, 0x11), (0xa1, 0x28), (0xa1, 0x02), (0xa1, 0x01)] {
        assert_eq!(out(&mut v, port, value), Some(Exit::Emulated(None)));
    }
    assert_eq!(out(&mut v, 0x21, 0xf7), Some(Exit::Emulated(None)), "IRQ 3 is the partition's");
    // COM4's interrupt exits at its routed vector while the guest has interrupts off.
    // SAFETY: the test VMCS.
    unsafe { write(EXIT_INTERRUPTION_INFO, 0x8000_0000 | u64::from(crate::irq::IRQ_VECTORS + 3)) };
    assert_eq!(exit(&mut v, reason::EXTERNAL_INTERRUPT, 0, 0), Some(Exit::Interrupt));
    v.before_entry();
    assert_eq!(read(ENTRY_INTERRUPTION_INFO), 0, "IF clear: not yet");
    assert_ne!(v.proc & proc::INTERRUPT_WINDOW_EXITING, 0, "an exit when the guest can take it");
    // SAFETY: the test VMCS: the guest sets IF.
    unsafe { write(GUEST_RFLAGS, 0x202) };
    assert_eq!(exit(&mut v, reason::INTERRUPT_WINDOW, 0, 0), Some(Exit::Interrupt));
    v.before_entry();
    assert_eq!(read(ENTRY_INTERRUPTION_INFO), 0x8000_0023, "the guest's vector for IRQ 3");
    assert_eq!(v.proc & proc::INTERRUPT_WINDOW_EXITING, 0);
    // SAFETY: the test VMCS: the interrupt was delivered.
    unsafe { write(ENTRY_INTERRUPTION_INFO, 0) };
    assert_eq!(exit(&mut v, reason::EXTERNAL_INTERRUPT, 0, 0), Some(Exit::Interrupt));
    v.before_entry();
    assert_eq!(read(ENTRY_INTERRUPTION_INFO), 0, "in service until the guest's EOI");
    assert_eq!(out(&mut v, 0x20, 0x20), Some(Exit::Emulated(None)));
    v.before_entry();
    assert_eq!(read(ENTRY_INTERRUPTION_INFO), 0x8000_0023, "the edge latched meanwhile");
}

#[test]
fn unmasking_a_line_the_partition_does_not_own_is_refused() {
    let mut v = vcpu(true);
    assert_eq!(out(&mut v, 0x21, 0xe7), Some(Exit::Emulated(Some(Refusal::PicLine { irq: 4 }))), "IRQ 4 is not its own");
    v.ctx.gpr[RAX] = 0;
    assert_eq!(exit(&mut v, reason::IO, 0x0021_0008, 1), Some(Exit::Emulated(None)));
    assert_eq!(v.ctx.gpr[RAX], 0xf7, "only IRQ 3 unmasked");
    // SAFETY: the test VMCS.
    unsafe { write(EXIT_INTERRUPTION_INFO, 0x8000_0000 | u64::from(crate::irq::IRQ_VECTORS + 4)) };
    exit(&mut v, reason::EXTERNAL_INTERRUPT, 0, 0);
    assert!(!v.pic.requested(), "an interrupt of a line it does not own raises nothing");
}

#[test]
fn memory_outside_the_partition_is_a_fault() {
    let mut v = vcpu(true);
    // SAFETY: the test VMCS.
    unsafe { write(GUEST_PHYSICAL_ADDRESS, 0x0300_0000) };
    assert_eq!(exit(&mut v, reason::EPT_VIOLATION, 0b010, 0), Some(Exit::Fault(Fault::Memory { addr: 0x0300_0000, write: true })));
    assert_eq!(exit(&mut v, reason::EPT_VIOLATION, 0b100, 0), Some(Exit::Fault(Fault::Fetch { addr: 0x0300_0000 })));
    assert_eq!(exit(&mut v, reason::TRIPLE_FAULT, 0, 0), Some(Exit::Fault(Fault::Hardware { syndrome: 2 })));
    v.inject(&Fault::Hardware { syndrome: 2 });
    assert_eq!(read(GUEST_ACTIVITY_STATE), ACTIVITY_HLT, "halted for good");
    assert_eq!(read(GUEST_RFLAGS), 2, "interrupts off");
}

/// WRMSR of the ICR: RCX = 0x830, EDX:EAX = the command.
fn write_icr(v: &mut Vcpu, value: u64) -> Option<Exit> {
    (v.ctx.gpr[RCX], v.ctx.gpr[RAX], v.ctx.gpr[RDX]) = (0x830, value & 0xffff_ffff, value >> 32);
    exit(v, reason::WRMSR, 0, 2)
}

#[test]
fn fixed_ipis_kick_the_siblings_cpu_and_arrive_with_its_kick() {
    two_vcpus_on();
    let mut v = vcpu(true);
    (v.ctx.gpr[RCX], v.ctx.gpr[RAX], v.ctx.gpr[RDX]) = (0x1b, 0xfee0_0d00, 0);
    exit(&mut v, reason::WRMSR, 0, 2); // x2APIC mode
    crate::irq::KICKS.with(|k| k.borrow_mut().clear());
    let rip0 = rip();
    assert_eq!(write_icr(&mut v, 0x4041 | 1 << 32), Some(Exit::Emulated(None)));
    assert_eq!(rip(), rip0 + 2, "WRMSR stepped over");
    assert_eq!(crate::irq::KICKS.with(|k| k.borrow().clone()), [6], "vCPU 1's CPU kicked");
    assert_eq!(write_icr(&mut v, 0x4041 | 2 << 32), Some(Exit::Emulated(Some(Refusal::IpiTarget { target: 2 }))));
    assert_eq!(crate::irq::KICKS.with(|k| k.borrow().len()), 1, "nothing sent for the refused one");
    // vCPU 1's side: the kick's exit takes the vector into its APIC.
    let mut w = vcpu(true);
    w.index = 1;
    w.lapic = VLapic::new(1);
    (w.ctx.gpr[RCX], w.ctx.gpr[RAX], w.ctx.gpr[RDX]) = (0x1b, 0xfee0_0c00, 0);
    exit(&mut w, reason::WRMSR, 0, 2);
    // SAFETY: the test VMCS.
    unsafe { write(EXIT_INTERRUPTION_INFO, 0x8000_0000 | u64::from(crate::irq::KICK)) };
    assert_eq!(exit(&mut w, reason::EXTERNAL_INTERRUPT, 0, 0), Some(Exit::Interrupt));
    assert!(w.lapic.waiting(), "0x41 pending in vCPU 1's APIC");
    assert_eq!(w.lapic.poll(0, true), Some(0x41));
}

#[test]
fn a_startup_ipi_starts_a_vcpu_in_real_mode_at_its_vector() {
    let mut v = vcpu(true);
    v.index = 1;
    v.start(crate::smp::Start::Sipi { vector: 0x08 });
    assert_eq!((read(GUEST_CS_SELECTOR), read(GUEST_CS_BASE), rip()), (0x800, 0x8000, 0));
    assert_eq!((v.ctx.gpr[RAX], v.ctx.gpr[RBX]), (0, 0), "no Multiboot registers");
    assert_eq!(read(GUEST_CR0) & crate::cpu::CR0_PE, 0, "real mode");
    assert_eq!((read(GUEST_DS_BASE), read(GUEST_DS_LIMIT), read(GUEST_CS_ACCESS)), (0, 0xffff, 0x9b));
}

#[test]
fn an_nmi_takes_the_vcpu_out_for_the_core_to_park_it() {
    let mut v = vcpu(true);
    let rip0 = rip();
    assert_eq!(exit(&mut v, 0, 0, 0), Some(Exit::Interrupt), "another CPU's force_exit");
    assert_eq!(rip(), rip0, "the guest resumes where it was, if it resumes");
}
