//! Deterministic fuzzing: a million random words (and privileged-opcode-shaped words)
//! against randomised state must never panic, and the result must agree with the
//! decoder: rejected words are Illegal, privileged words in virtual problem state are
//! Privileged, and a faulting result never moves the PC or touches a GPR.
//! (`cargo fuzz` needs nightly and libFuzzer, not available offline; this fixed-seed
//! xorshift run is reproducible in plain `cargo test`.)

use super::*;
use crate::reflect::reflect;
use crate::sprn;
use crate::vcpu::CpuModel;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn word(&mut self) -> u32 {
        (self.next() >> 16) as u32
    }
}

/// Primary opcode 31 with one of the XOs the decoder knows, random other bits: most
/// fully random words are rejected in the first match, so these reach the handlers.
fn shaped(rng: &mut XorShift) -> u32 {
    const XOS: [u32; 20] = [83, 146, 131, 163, 339, 467, 334, 462, 946, 978, 914, 786, 566, 470, 166, 134, 390, 486, 230, 50];
    let xo = XOS[(rng.next() % XOS.len() as u64) as usize];
    let mut word = (31 << 26) | (rng.word() & 0x03FF_F800) | (xo << 1);
    if xo == 50 {
        // The return family lives under primary opcode 19: rfi, rfci, rfmci.
        const RETURNS: [u32; 3] = [0x4C00_0064, 0x4C00_0066, 0x4C00_004C];
        word = RETURNS[(rng.next() % 3) as usize];
    }
    // Now and then a set Rc bit or reserved field, which must be rejected.
    if rng.next() & 3 == 0 {
        word |= rng.word() & 1;
    }
    word
}

fn random_state(rng: &mut XorShift) -> VcpuState {
    let mut s = VcpuState::new(CpuModel::E500V2, 0, rng.next());
    for r in s.gpr.iter_mut() {
        *r = rng.word();
    }
    s.msr = rng.word() & crate::vcpu::msr::IMPLEMENTED;
    s.pc = rng.word() & !3;
    s.srr1 = rng.word();
    s.hid0 = rng.word();
    s.tcr = rng.word();
    s.decar = rng.word();
    s.mas.mas0 = rng.word();
    s.mas.mas2 = rng.word();
    s.mas.mas4 = rng.word();
    s.mas.mas6 = rng.word();
    s.dec_deadline = Some(rng.next());
    s
}

#[test]
fn a_million_random_words_never_panic_and_agree_with_the_decoder() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut tlb = GuestTlb::new(&CpuModel::E500V2);
    let mut state = random_state(&mut rng);
    // How often each outcome class came up, to show the run reached the handlers.
    let (mut illegal, mut privileged, mut completed) = (0u32, 0u32, 0u32);
    for i in 0..1_000_000u32 {
        if i % 1000 == 0 {
            state = random_state(&mut rng);
        }
        let word = if i % 2 == 0 { rng.word() } else { shaped(&mut rng) };
        // Reflected interrupts clear MSR[PR]; put half the attempts back in problem state.
        if rng.next() & 1 == 0 {
            state.msr |= crate::vcpu::msr::PR;
        }
        let timebase = rng.next();
        let pc = state.pc;
        let gprs = state.gpr;
        let problem = state.problem_state();
        let result = emulate(&mut state, &mut tlb, word, timebase);
        match decode(word) {
            None => assert_eq!(result, Emulated::Illegal, "{word:#010x}"),
            Some(insn) if problem && insn.is_privileged() => assert_eq!(result, Emulated::Privileged, "{word:#010x}"),
            Some(_) => assert_ne!(result, Emulated::Privileged, "{word:#010x}"),
        }
        match result {
            Emulated::Illegal => illegal += 1,
            Emulated::Privileged => privileged += 1,
            _ => completed += 1,
        }
        if matches!(result, Emulated::Illegal | Emulated::Privileged | Emulated::Reflect(_)) {
            assert_eq!((state.pc, state.gpr), (pc, gprs), "{word:#010x}");
        }
        assert_eq!(state.msr & !crate::vcpu::msr::IMPLEMENTED, 0);
        // Exercise the rest of the surface on the same state.
        let _ = state.next_timer_deadline();
        if let Some(int) = state.pending_interrupt() {
            reflect(&mut state, &tlb, int);
        }
        if i % 7 == 0 {
            let int = match rng.next() % 4 {
                0 => Interrupt::DataTlbError { dear: rng.word(), esr: rng.word() },
                1 => Interrupt::InstructionTlbError,
                2 => Interrupt::MachineCheck { mcsr: rng.word(), mcar: rng.word() },
                _ => Interrupt::Program(crate::reflect::ProgramKind::Illegal),
            };
            reflect(&mut state, &tlb, int);
            let pids = state.pid;
            let _ = tlb.translate(rng.word(), rng.next() & 1 == 0, &pids, crate::guest_tlb::Access::Fetch, problem);
        }
    }
    assert_eq!(illegal + privileged + completed, 1_000_000);
    assert!(completed > 100_000 && privileged > 10_000 && illegal > 400_000, "{illegal} {privileged} {completed}");
}

/// `emulate_fast` is a shortcut, not a second emulator: on every word it takes, the
/// state and result must be exactly what `emulate` gives; on every word it declines,
/// the state must be untouched.
#[test]
fn the_fast_path_agrees_with_emulate() {
    const FAST_SPRS: [u16; 18] = [
        sprn::SPRG0, sprn::SPRG7, 275, sprn::SRR0, sprn::SRR1, sprn::CSRR0, sprn::CSRR1, sprn::DEAR, sprn::ESR,
        sprn::MAS0, sprn::MAS1, sprn::MAS2, sprn::MAS3, sprn::MAS4, sprn::MAS6, sprn::MAS7, sprn::DEC, sprn::PID0,
    ];
    let mut rng = XorShift(0x5eed_fa57_0000_0001);
    let mut taken = 0;
    for _ in 0..200_000 {
        let mut word = shaped(&mut rng);
        let xo = (word >> 1) & 0x3FF;
        if (xo == 339 || xo == 467) && rng.next() & 1 == 0 {
            // Mostly SPRs the fast path knows (and a few it must decline).
            let spr = u32::from(FAST_SPRS[(rng.next() % FAST_SPRS.len() as u64) as usize]);
            word = (word & !(0x3FF << 11)) | ((spr & 0x1F) << 16) | ((spr >> 5) << 11);
        }
        let timebase = rng.next();
        let mut fast = random_state(&mut rng);
        if rng.next() & 3 == 0 {
            fast.hid0 = crate::vcpu::hid0::DOZE;
        }
        if rng.next() & 3 != 0 {
            fast.msr &= !crate::vcpu::msr::PR;
        }
        fast.update_timers(timebase);
        let mut full = fast.clone();
        let before = format!("{fast:?}");
        let mut tlb = GuestTlb::new(&CpuModel::E500V2);
        match emulate_fast(&mut fast, word) {
            Some(result) => {
                taken += 1;
                assert_eq!(emulate(&mut full, &mut tlb, word, timebase), result, "{word:#010x}");
                assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{word:#010x}");
            }
            None => assert_eq!(format!("{fast:?}"), before, "{word:#010x}"),
        }
    }
    assert!(taken > 5_000, "{taken}");
}
