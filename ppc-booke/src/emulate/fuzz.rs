//! Deterministic fuzzing: a million random words (and privileged-opcode-shaped words)
//! against randomised state must never panic, and the result must agree with the
//! decoder: rejected words are Illegal, privileged words in virtual problem state are
//! Privileged, and a faulting result never moves the PC or touches a GPR.
//! (`cargo fuzz` needs nightly and libFuzzer, not available offline; this fixed-seed
//! xorshift run is reproducible in plain `cargo test`.)

use super::*;
use crate::reflect::reflect;
use crate::vcpu::{msr, CpuModel};

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
    let mut tlb = GuestTlb::new();
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

/// The fast paths are shortcuts, not second emulators: on every word they take, the
/// state and result must be exactly what `emulate` gives; on every word they decline,
/// the state must be untouched. `in_vector`, the model of the Program vector's assembly,
/// must also leave nothing for the caller to do (no context switch, no deliverable
/// interrupt, no idling).
#[test]
fn the_fast_paths_agree_with_emulate() {
    let mut rng = XorShift(0x5eed_fa57_0000_0001);
    let (mut tlb_taken, mut vector_taken, mut tlbsx_hits, mut tlb_written) = (0, 0, 0, 0);
    let (mut vector_tlbre, mut vector_tlbsx, mut vector_tlbsx_misses, mut vector_tlbivax) = (0, 0, 0, 0);
    let mut populated = GuestTlb::new();
    for i in 0..200_000u32 {
        if i % 1000 == 0 {
            populated = populated_tlb(&mut rng);
        }
        let mut word = match i % 4 {
            0 => rng.word(),
            1 => [fast::RFI, 0x4C00_0066, 0x4C00_004C, fast::WRTEEI, fast::WRTEEI | 0x8000, 0x7C00_0764, 0x7C00_4F24, 0x7C00_07A4, 0x7C00_0624 | (rng.word() & 0x001F_F800)]
                [(rng.next() % 9) as usize],
            _ => shaped(&mut rng),
        };
        let xo = (word >> 1) & 0x3FF;
        if (xo == 339 || xo == 467) && rng.next() & 1 == 0 {
            // Any SPR number, so that every row of the table (and none) comes up.
            let spr = (rng.next() % 1024) as u32;
            word = (word & !(0x3FF << 11)) | ((spr & 0x1F) << 16) | ((spr >> 5) << 11);
        }
        let timebase = rng.next();
        let mut base = random_state(&mut rng);
        if rng.next() & 3 == 0 {
            base.hid0 = crate::vcpu::hid0::DOZE;
        }
        if rng.next() & 3 != 0 {
            base.msr &= !crate::vcpu::msr::PR;
        }
        // Sometimes a pending interrupt that a newly set EE or CE would let in.
        match rng.next() % 4 {
            0 => base.external_pending = true,
            1 => base.critical_pending = true,
            _ => {}
        }
        // tlbsx: often an address some entry maps.
        base.gpr[usize::from(crate::insn::field5(word, 16))] = ((rng.next() % 8) << 12) as u32;
        base.update_timers(timebase);
        let mut full = base.clone();
        let mut tlb = populated.clone();
        let expected = emulate(&mut full, &mut tlb, word, timebase);
        let before = format!("{base:?}");
        let mut read = base.clone();
        match tlb_read(&mut read, &populated, word) {
            Some(result) => {
                tlb_taken += 1;
                tlbsx_hits += u32::from(word & 0xFFFF_07FF == 0x7C00_0724 && read.mas.mas1 & crate::guest_tlb::mas::MAS1_V != 0);
                assert_eq!(result, expected, "{word:#010x}");
                assert_eq!(format!("{read:?}"), format!("{full:?}"), "{word:#010x}");
            }
            None => assert_eq!(format!("{read:?}"), before, "{word:#010x}"),
        }
        let mut written = base.clone();
        let mut written_tlb = populated.clone();
        match tlb_write(&mut written, &mut written_tlb, word) {
            Some(result) => {
                tlb_written += 1;
                assert_eq!(result, expected, "{word:#010x}");
                assert_eq!(format!("{written:?}"), format!("{full:?}"), "{word:#010x}");
                assert!(written_tlb == tlb, "{word:#010x}");
            }
            None => {
                assert_eq!(format!("{written:?}"), before, "{word:#010x}");
                assert!(written_tlb == populated, "{word:#010x}");
            }
        }
        let wake = base.wake_mask();
        let mut vector = base.clone();
        match in_vector(&mut vector, &populated, word, wake, timebase) {
            Some(result) => {
                vector_taken += 1;
                vector_tlbre += u32::from(word == 0x7C00_0764);
                let tlbsx = word & 0xFFFF_07FF == 0x7C00_0724;
                vector_tlbsx += u32::from(tlbsx);
                vector_tlbsx_misses += u32::from(tlbsx && vector.mas.mas1 & crate::guest_tlb::mas::MAS1_V == 0);
                vector_tlbivax += u32::from(word & 0xFFE0_07FF == 0x7C00_0624);
                assert_eq!(result, expected, "{word:#010x}");
                assert_eq!(format!("{vector:?}"), format!("{full:?}"), "{word:#010x}");
                // The vector never writes the guest TLB: emulate must not have either.
                assert!(tlb == populated, "{word:#010x}");
                let (old, new) = (base.msr, vector.msr);
                assert_eq!((old ^ new) & (msr::PR | msr::IS | msr::DS), 0, "{word:#010x}");
                assert!(new == old || new & msr::WE == 0, "{word:#010x}");
                assert!(vector.pending_interrupt().is_none() || base.pending_interrupt().is_some(), "{word:#010x}");
            }
            None => assert_eq!(format!("{vector:?}"), before, "{word:#010x}"),
        }
    }
    assert!(
        tlb_taken > 5_000
            && vector_taken > 3_000
            && tlbsx_hits > 1_000
            && tlb_written > 5_000
            && vector_tlbre > 1_000
            && vector_tlbsx > 500
            && vector_tlbsx_misses > 100
            && vector_tlbivax > 500,
        "{tlb_taken} {vector_taken} {tlbsx_hits} {tlb_written} {vector_tlbre} {vector_tlbsx} {vector_tlbsx_misses} {vector_tlbivax}"
    );
}

/// A guest TLB with random entries at the first few pages, in both TLBs and spaces.
fn populated_tlb(rng: &mut XorShift) -> GuestTlb {
    let mut tlb = GuestTlb::new();
    for _ in 0..24 {
        let m = crate::guest_tlb::Mas {
            mas0: rng.word() & crate::guest_tlb::mas::MAS0_WRITABLE,
            mas1: (rng.word() & crate::guest_tlb::mas::MAS1_WRITABLE & !(0xFC << 16)) | crate::guest_tlb::mas::MAS1_V,
            mas2: ((rng.next() % 8) << 12) as u32 | (rng.word() & 0x1F),
            mas3: rng.word(),
            mas7: rng.word() & 0xF,
            ..Default::default()
        };
        tlb.write(&m);
    }
    tlb
}

/// Every SPR number, both directions, both virtual privilege levels: the table-driven
/// move the vector's assembly does agrees with `emulate`, and takes exactly the plain
/// registers (and reads of the read-only ones) in virtual supervisor state.
#[test]
fn spr_moves_agree_with_emulate_for_every_spr() {
    let mut rng = XorShift(0x0dd5_9e75_0000_0003);
    let mut taken = 0;
    for spr in 0..1024u32 {
        for write in [false, true] {
            for problem in [false, true] {
                let rt = (rng.next() % 32) as u32;
                let xo = if write { 467 } else { 339 };
                let word = (31 << 26) | (rt << 21) | ((spr & 0x1F) << 16) | ((spr >> 5) << 11) | (xo << 1);
                let timebase = rng.next();
                let mut base = random_state(&mut rng);
                base.msr = if problem { base.msr | msr::PR } else { base.msr & !msr::PR };
                base.update_timers(timebase);
                let (mut moved, mut full) = (base.clone(), base.clone());
                let mut tlb = GuestTlb::new();
                let expected = emulate(&mut full, &mut tlb, word, timebase);
                let kind = spr_moves::row(spr as u16).map(|r| spr_moves::SPRS.kind[r]);
                let eligible = !problem
                    && matches!((kind, write), (Some(spr_moves::Kind::Plain), _) | (Some(spr_moves::Kind::ReadOnly), false));
                match spr_move(&mut moved, word) {
                    Some(result) => {
                        taken += 1;
                        assert!(eligible, "SPR {spr} write {write} problem {problem}");
                        assert_eq!(result, expected, "SPR {spr}");
                        assert_eq!(format!("{moved:?}"), format!("{full:?}"), "SPR {spr}");
                    }
                    None => {
                        assert!(!eligible, "SPR {spr} write {write}");
                        assert_eq!(format!("{moved:?}"), format!("{base:?}"), "SPR {spr}");
                    }
                }
            }
        }
    }
    assert!(taken > 100, "{taken}");
}

/// The timer SPR moves' short paths (`timer_spr`, which `Guest::on_trap` runs before the
/// full path, and the timer reads of `in_vector`, the vector's assembly) against `emulate`: DEC, DECAR, TSR and TCR both ways, on states whose
/// decrementer, FIT and watchdog events fall just before, at and after the move's
/// timebase (so that bringing the timers up to date sets status bits, reloads DEC or
/// resets), with auto-reload, set-once WRC and write-1-to-clear values; other SPRs and
/// virtual problem state must be declined with nothing changed.
#[test]
fn timer_moves_agree_with_emulate() {
    const TIMER_SPRS: [u32; 4] = [crate::sprn::DEC as u32, crate::sprn::DECAR as u32, crate::sprn::TSR as u32, crate::sprn::TCR as u32];
    let mut rng = XorShift(0x71e7_5a11_0000_0005);
    let (mut taken, mut events, mut resets, mut vector_taken, mut vector_writes) = (0, 0, 0, 0, 0);
    let (mut vector_tcr_writes, mut vector_arms) = (0, 0);
    for i in 0..200_000u32 {
        let write = rng.next() & 1 == 0;
        let spr = if i % 8 == 0 { (rng.next() % 1024) as u32 } else { TIMER_SPRS[(rng.next() % 4) as usize] };
        let rt = (rng.next() % 32) as u32;
        let xo = if write { 467 } else { 339 };
        let mut word = (31 << 26) | (rt << 21) | ((spr & 0x1F) << 16) | ((spr >> 5) << 11) | (xo << 1);
        if i % 16 == 1 {
            word |= 1; // Rc: not an mfspr/mtspr form
        }
        let start = rng.next() >> (rng.next() % 40);
        let mut base = VcpuState::new(CpuModel::E500V2, 0, start);
        base.msr = rng.word() & msr::IMPLEMENTED;
        if rng.next() & 3 != 0 {
            base.msr &= !msr::PR;
        }
        // Periods of a few ticks to a few thousand: events near `start`.
        base.tcr = rng.word() & crate::vcpu::tcr::IMPLEMENTED & !(crate::vcpu::tcr::FPEXT | crate::vcpu::tcr::WPEXT);
        base.tcr |= ((rng.next() % 16) as u32) << crate::vcpu::tcr::FPEXT_SHIFT 
            | if i % 2 == 0 { 0xF } else { (rng.next() % 16) as u32 } << crate::vcpu::tcr::WPEXT_SHIFT;
        base.tsr = rng.word() & crate::vcpu::tsr::IMPLEMENTED;
        base.decar = if rng.next() & 1 == 0 { (rng.next() % 64) as u32 } else { rng.word() };
        base.dec_deadline = match rng.next() % 4 {
            0 => None,
            _ => Some(start.wrapping_add(rng.next() % 128)),
        };
        for r in base.gpr.iter_mut() {
            *r = if rng.next() & 1 == 0 { rng.word() } else { (rng.next() % 64) as u32 };
        }
        // TCR written with the value it holds (WRC's bits of rS varied: set-once), a
        // quarter of the time.
        if write && spr == crate::sprn::TCR as u32 && rng.next() % 4 == 0 {
            base.gpr[rt as usize] = base.tcr ^ (rng.word() & crate::vcpu::tcr::WRC);
        }
        // The move happens a little after the state was last brought up to date.
        base.update_timers(start);
        let timebase = start.wrapping_add(rng.next() % if i % 4 < 2 { 256 } else { 8 });
        let (mut short, mut full, mut vector) = (base.clone(), base.clone(), base.clone());
        let expected = emulate(&mut full, &mut GuestTlb::new(), word, timebase);
        let kind = spr_moves::row(spr as u16).map(|r| spr_moves::SPRS.kind[r]);
        let timer = matches!(kind, Some(spr_moves::Kind::Dec | spr_moves::Kind::Timer | spr_moves::Kind::Tsr | spr_moves::Kind::Tcr));
        // (Plain moves in the vector do not bring the timers up to date, by design: they
        // are compared with `emulate` at an up-to-date timebase in the tests above.)
        match in_vector(&mut vector, &GuestTlb::new(), word, base.wake_mask(), timebase).filter(|_| timer) {
            Some(result) => {
                vector_taken += 1;
                vector_writes += u32::from(word & fast::OPCODE_XO_RC == fast::MTSPR);
                vector_tcr_writes += u32::from(word & fast::OPCODE_XO_RC == fast::MTSPR && kind == Some(spr_moves::Kind::Tcr));
                assert_eq!(result, expected, "{word:#010x}");
                assert_eq!(format!("{vector:?}"), format!("{full:?}"), "{word:#010x}");
                // Nothing for the caller to follow up: same physical timer (or, for a DEC
                // write whose deadline counts, the one the vector arms itself: rS ticks
                // from its timebase), no interrupt let in.
                let dec_counts = base.tcr & crate::vcpu::tcr::DIE != 0 && base.tsr & crate::vcpu::tsr::DIS == 0;
                if write && kind == Some(spr_moves::Kind::Dec) && dec_counts {
                    vector_arms += 1;
                    assert_eq!(vector.next_timer_deadline(), Some(timebase + u64::from(base.gpr[rt as usize])), "{word:#010x}");
                } else {
                    assert_eq!(vector.next_timer_deadline(), base.next_timer_deadline(), "{word:#010x}");
                }
                assert_eq!(vector.wake_mask() & !base.wake_mask(), 0, "{word:#010x}");
            }
            None if timer => assert_eq!(format!("{vector:?}"), format!("{base:?}"), "{word:#010x}"),
            None => {}
        }
        match timer_spr(&mut short, word, timebase) {
            Some(result) => {
                taken += 1;
                events += u32::from(short.tsr != base.tsr);
                resets += u32::from(short.clone().take_watchdog_reset().is_some());
                assert_eq!(result, expected, "{word:#010x}");
                assert_eq!(format!("{short:?}"), format!("{full:?}"), "{word:#010x}");
                assert_eq!(short.next_timer_deadline(), full.next_timer_deadline());
                assert_eq!(short.wake_mask(), full.wake_mask());
            }
            None => {
                assert!(!timer || base.problem_state() || word & 1 != 0, "declined {word:#010x}");
                assert_eq!(format!("{short:?}"), format!("{base:?}"), "{word:#010x}");
            }
        }
    }
    assert!(
        taken > 100_000 && events > 10_000 && resets > 100 && vector_taken > 10_000 && vector_writes > 3_000 && vector_tcr_writes > 500 && vector_arms > 500,
        "{taken} {events} {resets} {vector_taken} {vector_writes} {vector_tcr_writes} {vector_arms}"
    );
}
