//! Injection, list-register filling and folding.

use super::*;
use crate::vgic::distributor::CTLR;
use crate::vgic::regs as r;
use crate::vgic::tests::*;
use crate::vgic::{Denied, VcpuSet};
use hv::exit::Width;

/// Virtual timer PPI.
const VTIMER: u32 = 27;

/// A GICv3 partition with both groups on and every owned interrupt enabled, group 1, at
/// priority 0x80.
fn ready(vcpus: &[u64], spis: &[u32]) -> Vgic {
    let mut g = v3(vcpus, spis);
    g.dwr(0, CTLR, 0x3);
    for v in 0..vcpus.len() {
        g.wr(v, FRAME_SGI + r::ISENABLER, u64::from(u32::MAX));
        g.wr(v, FRAME_SGI + r::IGROUPR, u64::from(u32::MAX));
        for i in 0..8 {
            g.wr(v, FRAME_SGI + r::IPRIORITYR + 4 * i, 0x8080_8080);
        }
    }
    for &s in spis {
        let word = u64::from(s / 32) * 4;
        g.dwr(0, r::ISENABLER + word, 1 << (s % 32));
        let groups = g.drd(0, r::IGROUPR + word);
        g.dwr(0, r::IGROUPR + word, groups | 1 << (s % 32));
        g.gicd(0, r::IPRIORITYR + u64::from(s), Width::Byte, Some(0x80)).write();
    }
    g
}

fn prio(g: &mut Vgic, intid: u32, p: u8) {
    let out = if intid < 32 {
        g.gicr(
            FRAME_SGI + r::IPRIORITYR + u64::from(intid),
            Width::Byte,
            Some(u64::from(p)),
        )
    } else {
        g.gicd(0, r::IPRIORITYR + u64::from(intid), Width::Byte, Some(u64::from(p)))
    };
    out.write();
}

fn intids(lrs: &[Lr]) -> Vec<u32> {
    lrs.iter()
        .filter(|l| l.state != LrState::Invalid)
        .map(|l| l.vintid)
        .collect()
}

/// The guest acknowledges every pending list register and EOIs it at once.
fn guest_handles_all(lrs: &mut [Lr]) {
    for lr in lrs.iter_mut() {
        if lr.state == LrState::Pending {
            lr.state = LrState::Invalid;
        }
    }
}

#[test]
fn fills_by_priority_and_asks_for_maintenance_on_overflow() {
    let mut g = ready(&[0], &[33, 34, 35]);
    for (intid, p) in [(33, 0x40), (34, 0x20), (35, 0x60), (VTIMER, 0x20), (1, 0xa0), (2, 0x40)] {
        prio(&mut g, intid, p);
        assert_eq!(g.inject(0, intid, None), Ok(VcpuSet(0b1)));
    }
    let mut lrs = [Lr::INVALID; 4];
    assert_eq!(g.fill(0, &mut lrs), NeedMaintenance::NoPending);
    assert_eq!(intids(&lrs), [VTIMER, 34, 2, 33], "priority, then INTID");
    assert!(lrs.iter().all(|l| l.state == LrState::Pending && l.group1));
    assert_eq!(lrs[1].priority, 0x20);
    assert!(g.has_deliverable(0));
    guest_handles_all(&mut lrs);
    assert!(g.sync_from(0, &lrs).is_empty());
    assert_eq!(g.rd(0, FRAME_SGI + r::ISPENDR), 1 << 1, "only SGI 1 still pending");
    assert_eq!(g.fill(0, &mut lrs), NeedMaintenance::No);
    assert_eq!(intids(&lrs), [35, 1]);
    guest_handles_all(&mut lrs);
    let _ = g.sync_from(0, &lrs);
    assert!(!g.has_deliverable(0));
    assert_eq!(g.fill(0, &mut lrs), NeedMaintenance::No);
    assert!(intids(&lrs).is_empty());
}

#[test]
fn active_interrupts_keep_their_list_registers() {
    let mut g = ready(&[0], &[]);
    for intid in 0..4 {
        prio(&mut g, intid, 0xf0);
        let _ = g.inject(0, intid, None);
    }
    let mut lrs = [Lr::INVALID; 4];
    let _ = g.fill(0, &mut lrs);
    lrs.iter_mut().for_each(|l| l.state = LrState::Active); // nested: all taken, none done
    let _ = g.sync_from(0, &lrs);
    let _ = g.inject(0, 5, None); // higher priority (0x80) than the active ones
    assert_eq!(
        g.fill(0, &mut lrs),
        NeedMaintenance::Underflow,
        "NPIE would fire at once"
    );
    assert_eq!(intids(&lrs), [0, 1, 2, 3]);
    assert!(lrs.iter().all(|l| l.state == LrState::Active));
    lrs[3].state = LrState::Invalid;
    lrs[2].state = LrState::Invalid;
    lrs[1].state = LrState::Invalid;
    let _ = g.sync_from(0, &lrs);
    assert_eq!(g.fill(0, &mut lrs), NeedMaintenance::No);
    assert_eq!(intids(&lrs), [0, 5]);
    assert_eq!(lrs[1].state, LrState::Pending);
}

#[test]
fn disabled_or_group_disabled_interrupts_wait() {
    let mut g = ready(&[0], &[40]);
    g.dwr(0, r::ICENABLER + 4, 1 << 8);
    assert_eq!(
        g.inject(0, 40, None),
        Ok(VcpuSet::default()),
        "pending but disabled: no kick"
    );
    let mut lrs = [Lr::INVALID; 2];
    assert_eq!(g.fill(0, &mut lrs), NeedMaintenance::No);
    assert!(intids(&lrs).is_empty());
    assert_eq!(
        g.dwr(0, r::ISENABLER + 4, 1 << 8).kick,
        VcpuSet(0b1),
        "enabling makes it deliverable"
    );
    g.dwr(0, CTLR, 0x1); // group 1 off
    let _ = g.fill(0, &mut lrs);
    assert!(intids(&lrs).is_empty());
    assert_eq!(g.dwr(0, CTLR, 0x3).kick, VcpuSet(0b1));
    let _ = g.fill(0, &mut lrs);
    assert_eq!(intids(&lrs), [40]);
}

#[test]
fn hardware_timer_ppi_is_finished_by_the_guest_eoi() {
    let mut g = ready(&[0, 1], &[]);
    assert_eq!(g.inject(1, VTIMER, Some(VTIMER)), Ok(VcpuSet(0b10)));
    let mut lrs = [Lr::INVALID; 4];
    let _ = g.fill(1, &mut lrs);
    assert_eq!(
        lrs[0],
        Lr {
            state: LrState::Pending,
            hw: true,
            group1: true,
            priority: 0x80,
            vintid: 27,
            pintid: 27,
            ..Lr::INVALID
        }
    );
    let lr3 = crate::vgic::lr::to_ich_lr(&lrs[0]);
    assert_eq!(lr3 >> 61 & 1, 1);
    lrs[0].state = LrState::Active; // acknowledged, exit for something else
    let _ = g.sync_from(1, &lrs);
    assert_eq!(g.rd(1, FRAME_SGI + r::ISACTIVER), 1 << VTIMER);
    let _ = g.fill(1, &mut lrs);
    assert_eq!((lrs[0].state, lrs[0].hw), (LrState::Active, true), "still linked");
    lrs[0].state = LrState::Invalid; // EOI: the hardware deactivated physical 27
    let _ = g.sync_from(1, &lrs);
    let mut deactivated = vec![];
    g.take_deactivations(|p| deactivated.push(p));
    assert!(deactivated.is_empty(), "nothing left for the hypervisor to deactivate");
    assert_eq!(g.rd(1, FRAME_SGI + r::ISACTIVER), 0);
    assert_eq!(g.rd(0, FRAME_SGI + r::ISPENDR), 0, "vCPU 0 never saw it");
}

#[test]
fn hardware_interrupts_are_never_pending_and_active_in_a_list_register() {
    let mut g = ready(&[0], &[48]);
    let _ = g.inject(0, 48, Some(48));
    let mut lrs = [Lr::INVALID; 2];
    let _ = g.fill(0, &mut lrs);
    lrs[0].state = LrState::Active;
    let _ = g.sync_from(0, &lrs);
    g.dwr(0, r::ISPENDR + 4, 1 << 16); // the guest pends it again by hand
    assert_eq!(g.fill(0, &mut lrs), NeedMaintenance::Underflow);
    assert_eq!((lrs[0].state, lrs[0].hw), (LrState::Active, true));
    assert_eq!(lrs[1].state, LrState::Invalid);
    lrs[0].state = LrState::Invalid;
    let _ = g.sync_from(0, &lrs);
    let _ = g.fill(0, &mut lrs);
    assert_eq!(
        (lrs[0].state, lrs[0].hw),
        (LrState::Pending, false),
        "a virtual pending now"
    );
}

#[test]
fn software_interrupts_go_pending_and_active() {
    let mut g = ready(&[0, 1], &[]);
    let _ = g.sgi1r(1, 3 << 24 | 0b1); // SGI 3 to vCPU 0
    let mut lrs = [Lr::INVALID; 4];
    let _ = g.fill(0, &mut lrs);
    lrs[0].state = LrState::Active;
    assert_eq!(
        g.sgi1r(1, 3 << 24 | 0b1).kick,
        VcpuSet(0b01),
        "held in vCPU 0's list registers"
    );
    let _ = g.sync_from(0, &lrs);
    let _ = g.fill(0, &mut lrs);
    assert_eq!(lrs[0].state, LrState::PendingActive);
    assert_eq!(intids(&lrs), [3]);
}

#[test]
fn clearing_pending_on_a_linked_interrupt_gives_the_physical_one_back() {
    let mut g = ready(&[0], &[40]);
    g.dwr(0, r::ICENABLER + 4, 1 << 8);
    let _ = g.inject(0, 40, Some(40));
    let fx = g.dwr(0, r::ICPENDR + 4, 1 << 8);
    assert!(fx.deactivate);
    let mut deactivated = vec![];
    g.take_deactivations(|p| deactivated.push(p));
    assert_eq!(deactivated, [40]);
    g.take_deactivations(|_| panic!("only once"));
}

#[test]
fn another_vcpu_clears_what_a_list_register_holds() {
    let mut g = ready(&[0, 1], &[40]);
    let _ = g.inject(0, 40, Some(40));
    let mut lrs = [Lr::INVALID; 4];
    let _ = g.fill(0, &mut lrs);
    assert_eq!(
        g.drd(1, r::ISPENDR + 4),
        1 << 8,
        "other vCPUs read the list register copy"
    );
    let fx = g.dwr(1, r::ICPENDR + 4, 1 << 8);
    assert_eq!(fx.kick, VcpuSet(0b01), "vCPU 0 must refill to drop it");
    assert_eq!(g.drd(1, r::ISPENDR + 4), 0);
    let _ = g.sync_from(0, &lrs); // the guest had not taken it yet
    assert!(!g.has_deliverable(0));
    let mut deactivated = vec![];
    g.take_deactivations(|p| deactivated.push(p));
    assert_eq!(
        deactivated,
        [40],
        "still active physically: the hypervisor deactivates it"
    );
}

#[test]
fn rerouted_while_held_moves_to_the_new_target_after_the_fold() {
    let mut g = ready(&[0, 1], &[40]);
    let _ = g.inject(0, 40, None);
    let mut lrs = [Lr::INVALID; 4];
    let _ = g.fill(0, &mut lrs);
    let fx = g.gicd(0, r::IROUTER + 8 * 40, Width::Double, Some(1)).write();
    assert_eq!(fx.kick, VcpuSet(0b01), "the holder refills");
    let mut other = [Lr::INVALID; 4];
    let _ = g.fill(1, &mut other);
    assert!(intids(&other).is_empty(), "never in two vCPUs' list registers at once");
    assert_eq!(g.sync_from(0, &lrs), VcpuSet(0b10));
    let _ = g.fill(1, &mut other);
    assert_eq!(intids(&other), [40]);
}

#[test]
fn fill_without_sync_does_not_duplicate_and_missing_lrs_keep_their_state() {
    let mut g = ready(&[0], &[]);
    let _ = g.inject(0, 1, None);
    let mut lrs = [Lr::INVALID; 2];
    let _ = g.fill(0, &mut lrs);
    let _ = g.fill(0, &mut lrs);
    assert_eq!(intids(&lrs), [1]);
    let _ = g.sync_from(0, &[]); // the glue lost them: assume unchanged
    assert_eq!(g.rd(0, FRAME_SGI + r::ISPENDR), 1 << 1);
    let _ = g.fill(0, &mut lrs);
    let garbage = [Lr { vintid: 2, ..lrs[0] }, Lr::INVALID];
    let _ = g.sync_from(0, &garbage);
    assert_eq!(
        g.rd(0, FRAME_SGI + r::ISPENDR),
        1 << 1,
        "a list register naming another INTID is ignored"
    );
}

#[test]
fn inject_checks_ownership() {
    let mut g = ready(&[0], &[40]);
    assert_eq!(g.inject(0, 41, None), Err(InjectError::NotOwned(41)));
    assert_eq!(g.inject(0, 1020, None), Err(InjectError::NotOwned(1020)));
    assert_eq!(g.inject(1, VTIMER, None), Err(InjectError::NoSuchVcpu(1)));
    assert_eq!(g.inject(0, 40, Some(3)), Err(InjectError::BadPhysical(3)));
    assert_eq!(g.inject(0, 40, Some(1020)), Err(InjectError::BadPhysical(1020)));
    assert_eq!(g.inject(5, 40, Some(40)), Ok(VcpuSet(0b1)), "SPIs follow their route");
}

#[test]
fn gicv2_list_registers_name_the_sgi_requester() {
    let mut g = v2(2, &[]);
    g.dwr(0, CTLR, 0x3);
    g.dwr(0, r::ISENABLER, 0xffff);
    let fx = g.dwr(1, crate::vgic::distributor::SGIR, 0b01 << 16 | 6);
    assert_eq!((fx.kick, fx.denied), (VcpuSet(0b01), None::<Denied>));
    let mut lrs = [Lr::INVALID; 4];
    let _ = g.fill(0, &mut lrs);
    assert_eq!((lrs[0].vintid, lrs[0].source), (6, 1));
    let raw = crate::vgic::lr::to_gich_lr(&lrs[0]);
    assert_eq!(raw >> 10 & 0x7, 1, "CPUID field");
}

/// The timer's fast path puts in list register 0 exactly what `inject` and a fill would, and
/// its fold leaves the model as the general fold does.
#[test]
fn the_timer_fast_path_agrees_with_inject_and_fill() {
    let mut fast = ready(&[0], &[]);
    let mut slow = ready(&[0], &[]);
    let mut lrs = [Lr::INVALID; 4];
    assert_eq!(slow.fill(0, &mut lrs), NeedMaintenance::No);
    slow.inject(0, VTIMER, Some(VTIMER)).unwrap();
    let _ = slow.fill(0, &mut lrs);
    let lr = fast.inject_alone(0, VTIMER).expect("deliverable at once");
    assert_eq!(lr, lrs[0]);
    assert!(!fast.has_deliverable(0), "in the list register, not waiting");
    // The guest acknowledges and EOIs it: HW = 1, the list register comes back invalid.
    let mut done = lr;
    done.state = LrState::Invalid;
    assert!(fast.sync_alone(0, &done));
    lrs[0].state = LrState::Invalid;
    let _ = slow.sync_from(0, &lrs);
    assert_eq!(fast.vcpus[0].private[VTIMER as usize], slow.vcpus[0].private[VTIMER as usize]);
    // Again: the fast path applies to every shot.
    assert!(fast.inject_alone(0, VTIMER).is_some());
}

/// The timer's next shot ([`Vgic::timer_again`], which changes nothing) agrees with what
/// it stands for, the fold of the EOIed list register and a new fast injection: after any
/// mix of register writes, from its own vCPU or a sibling, to the timer or elsewhere, it
/// says yes exactly when that pair would leave the model as it is and give the same list
/// register.
#[test]
fn the_timer_refire_check_agrees_with_sync_alone_and_inject_alone() {
    let mut x = 0x853c_49e6_748f_ea9bu64;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let (mut yes, mut no) = (0, 0);
    for _ in 0..3000 {
        let mut g = ready(&[0, 1], &[40]);
        let lr = g.inject_alone(0, VTIMER).expect("first shot");
        let since = g.private_state(0, VTIMER).unwrap();
        for _ in 0..next(3) {
            let bit = if next(2) == 0 { 1u64 << VTIMER } else { 1 << next(32) };
            let rdist = next(2) as usize;
            let _ = match next(9) {
                0 => g.wr(rdist, FRAME_SGI + r::ICENABLER, bit),
                1 => g.wr(rdist, FRAME_SGI + r::ISENABLER, bit),
                2 => g.wr(rdist, FRAME_SGI + r::ISPENDR, bit),
                3 => g.wr(rdist, FRAME_SGI + r::ICPENDR, bit),
                4 => g.wr(rdist, FRAME_SGI + r::ISACTIVER, bit),
                5 => g.wr(rdist, FRAME_SGI + r::ICACTIVER, bit),
                6 => g.wr(rdist, FRAME_SGI + r::IGROUPR, u64::from(u32::MAX) ^ (bit * next(2))),
                7 => g.wr(rdist, FRAME_SGI + r::IPRIORITYR + 4 * (VTIMER as u64 / 4), 0x8080_8080 ^ (next(2) << 27)),
                _ => g.dwr(next(2) as usize, CTLR, next(4)),
            };
        }
        let mut pair = g.clone();
        let eoied = Lr { state: LrState::Invalid, ..lr };
        let same = pair.sync_alone(0, &eoied)
            && pair.inject_alone(0, VTIMER) == Some(lr)
            && format!("{pair:?}") == format!("{g:?}");
        let before = format!("{g:?}");
        assert_eq!(g.timer_again(0, VTIMER, &since), same);
        assert_eq!(format!("{g:?}"), before, "the check changes nothing");
        if same {
            yes += 1;
        } else {
            no += 1;
        }
    }
    assert!(yes > 500 && no > 500, "both answers exercised ({yes} yes, {no} no)");
}

#[test]
fn the_timer_fast_path_steps_aside() {
    let mut g = ready(&[0], &[]);
    assert!(g.inject_alone(0, 30).is_some(), "any PPI");
    assert!(g.inject_alone(0, 30).is_none(), "already in a list register");
    let mut lr = Lr { state: LrState::Active, ..g.inject_alone(0, VTIMER).unwrap() };
    assert!(!g.sync_alone(0, &lr), "still active: the general fold");
    lr.state = LrState::Invalid;
    g.gicr(FRAME_SGI + r::ICENABLER, Width::Word, Some(1 << VTIMER)).write();
    g.gicr(FRAME_SGI + r::ISPENDR, Width::Word, Some(1 << VTIMER)).write();
    assert!(!g.sync_alone(0, &lr), "pending set again from outside meanwhile");
    assert!(g.inject_alone(0, 5).is_none(), "SGIs are never hardware interrupts");
    assert!(g.inject_alone(1, VTIMER).is_none(), "no such vCPU");
    let mut off = ready(&[0], &[]);
    off.gicr(FRAME_SGI + r::ICENABLER, Width::Word, Some(1 << VTIMER)).write();
    assert!(off.inject_alone(0, VTIMER).is_none(), "disabled");
}

#[test]
fn an_emulated_devices_line_is_a_level_sensitive_interrupt() {
    const UART: u32 = 33;
    let mut g = ready(&[0, 1], &[UART]);
    let mut lrs = [Lr::INVALID; 4];
    assert_eq!(g.set_line(UART, true), Ok(VcpuSet(0b01)), "pending for vCPU 0, its route");
    assert_eq!(g.set_line(UART, true), Ok(VcpuSet(0b01)), "still high: nothing new");
    let _ = g.fill(0, &mut lrs);
    assert_eq!(intids(&lrs), [UART]);
    assert!(!lrs[0].hw, "no physical interrupt behind it");
    // The guest takes it and EOIs it without draining the device: asserted again.
    lrs[0].state = LrState::Invalid;
    let _ = g.sync_from(0, &lrs);
    assert!(g.has_deliverable(0));
    let _ = g.fill(0, &mut lrs);
    lrs[0].state = LrState::Active;
    let _ = g.sync_from(0, &lrs);
    // Its handler drains the device (the line drops), then EOIs: nothing is left.
    assert_eq!(g.set_line(UART, false), Ok(VcpuSet(0)));
    let _ = g.fill(0, &mut lrs);
    lrs[0].state = LrState::Invalid;
    let _ = g.sync_from(0, &lrs);
    assert!(!g.has_deliverable(0));
    // A line that rises and falls before the guest looks leaves nothing behind.
    let _ = g.set_line(UART, true);
    let _ = g.set_line(UART, false);
    assert!(!g.has_deliverable(0));
    assert_eq!(g.set_line(34, true), Err(InjectError::NotOwned(34)));
    assert_eq!(g.set_line(VTIMER, true), Err(InjectError::NotOwned(VTIMER)), "SPIs only");
}
