//! Distributor register tests: identification, control, and each per-INTID array.

use super::*;
use crate::vgic::regs::{self as r, IROUTER_MASK};
use crate::vgic::tests::*;
use crate::vgic::{Denied, VcpuSet};

#[test]
fn typer_covers_the_highest_owned_intid() {
    let g = v3(&[0, 1], &[79, 33]);
    let t = g.typer();
    assert_eq!(t & 0x1f, 2, "ITLinesNumber: INTIDs up to 95 cover 79");
    assert_eq!(t >> 5 & 0x7, 1, "CPUNumber: two vCPUs");
    assert_eq!(t >> 19 & 0x1f, 9, "IDbits: 10-bit INTIDs, no LPIs");
    assert_eq!(t >> 25 & 1, 1, "No1N");
    assert_eq!(t >> 24 & 1, 0, "no Aff3 in use");
    assert_eq!(t >> 16 & 0x3, 0, "no LPIs, no MBIs");
    assert_eq!(t >> 10 & 1, 0, "one security state");
    assert_eq!(v3(&[0], &[]).typer() & 0x1f, 0, "SGIs and PPIs only");
    assert_eq!(v3(&[0, 1 << 32], &[1019]).typer() & (1 << 24 | 0x1f), 1 << 24 | 31);
    assert_eq!(v2(3, &[32]).typer(), 1 | 2 << 5, "GICv2: ITLines and CPUNumber only");
}

#[test]
fn identification_registers() {
    let mut g = v3(&[0], &[]);
    assert_eq!(g.drd(0, PIDR2_V3) >> 4 & 0xf, 3);
    assert_eq!(g.drd(0, IIDR), u64::from(IIDR_VALUE));
    assert_eq!(g.drd(0, TYPER), u64::from(g.typer()));
    g.dwr(0, TYPER, u64::MAX);
    assert_eq!(g.drd(0, TYPER), u64::from(g.typer()), "read-only");
    let mut g = v2(1, &[]);
    assert_eq!(g.drd(0, PIDR2_V2) >> 4 & 0xf, 2);
    assert_eq!(g.drd(0, PIDR2_V3 & 0xfff), 0x2b);
}

#[test]
fn ctlr_enables_groups_and_keeps_affinity_routing_on() {
    let mut g = v3(&[0, 1], &[]);
    assert_eq!(g.drd(0, CTLR), u64::from(CTLR_ARE | CTLR_DS));
    // Linux: ARE_NS | EnableGrp1A | EnableGrp1 (the Non-secure view's names).
    let fx = g.dwr(1, CTLR, 0x13);
    assert_eq!(fx.kick, VcpuSet(0b11), "group enables affect every vCPU");
    assert_eq!(
        g.drd(0, CTLR),
        u64::from(CTLR_ARE | CTLR_DS | CTLR_ENABLE_GRP0 | CTLR_ENABLE_GRP1)
    );
    assert!(g.dwr(0, CTLR, 0x13).kick.is_empty(), "no change, no kick");
    g.dwr(0, CTLR, 0);
    assert_eq!(g.drd(0, CTLR), u64::from(CTLR_ARE | CTLR_DS), "ARE and DS are RAO/WI");
    let mut g = v2(1, &[]);
    g.dwr(0, CTLR, u64::MAX);
    assert_eq!(g.drd(0, CTLR), 0b11);
}

#[test]
fn widths_and_alignment() {
    let mut g = v3(&[0], &[33]);
    assert_eq!(g.gicd(0, CTLR, Width::Byte, None), Outcome::Bad);
    assert_eq!(g.gicd(0, CTLR, Width::Double, None), Outcome::Bad);
    assert_eq!(g.gicd(0, TYPER + 1, Width::Word, None), Outcome::Bad);
    assert_eq!(g.gicd(0, r::ISENABLER + 4, Width::Half, Some(1)), Outcome::Bad);
    assert_eq!(g.gicd(0, r::ISENABLER + 4, Width::Byte, Some(1)), Outcome::Bad);
    assert_eq!(g.gicd(0, r::IPRIORITYR + 33, Width::Half, None), Outcome::Bad);
    assert_eq!(
        g.gicd(0, r::IPRIORITYR + 34, Width::Word, None),
        Outcome::Bad,
        "unaligned"
    );
    assert_eq!(g.gicd(0, r::IROUTER + 8 * 33 + 4, Width::Double, None), Outcome::Bad);
    assert_eq!(
        g.gicd(0, 0x0d00, Width::Word, Some(u64::MAX)),
        Outcome::Write(Effects::default()),
        "IGRPMODR"
    );
    assert_eq!(g.drd(0, 0x0d00), 0);
}

#[test]
fn gicv3_distributor_leaves_private_interrupts_to_the_redistributors() {
    let mut g = v3(&[0], &[33]);
    let fx = g.dwr(0, r::ISENABLER, u64::from(u32::MAX));
    assert_eq!(fx, Effects::default(), "RAZ/WI, and not someone else's state");
    assert_eq!(g.drd(0, r::ISENABLER), 0);
    assert_eq!(g.rd(0, FRAME_SGI + r::ISENABLER), 0, "the redistributor did not change");
    assert_eq!(g.drd(0, r::ITARGETSR + 32), 0, "no ITARGETSR with affinity routing");
}

#[test]
fn gicv2_banks_private_interrupts_per_vcpu() {
    let mut g = v2(2, &[33]);
    g.dwr(1, r::ISENABLER, 1 << 27);
    assert_eq!(g.drd(1, r::ISENABLER), 1 << 27);
    assert_eq!(g.drd(0, r::ISENABLER), 0);
    assert_eq!(g.drd(0, r::ITARGETSR), 0x0101_0101, "each CPU reads its own bit");
    assert_eq!(g.drd(1, r::ITARGETSR + 28), 0x0202_0202);
    assert_eq!(
        g.dwr(1, r::ITARGETSR + 28, 0),
        Effects::default(),
        "read-only, not foreign"
    );
}

#[test]
fn enable_pending_active_are_write_one_to_set_and_clear() {
    for mut g in [v3(&[0], &[33, 34]), v2(1, &[33, 34])] {
        let word = r::ISENABLER + 4; // INTIDs 32..64
        g.dwr(0, word, 0b110);
        assert_eq!(g.drd(0, word), 0b110);
        g.dwr(0, word, 0b100);
        assert_eq!(g.drd(0, word), 0b110, "zero bits leave the others alone");
        assert_eq!(
            g.drd(0, r::ICENABLER + 4),
            0b110,
            "the clear register reads the same state"
        );
        g.dwr(0, r::ICENABLER + 4, 0b010);
        assert_eq!(g.drd(0, word), 0b100);
        for (set, clear) in [(r::ISPENDR, r::ICPENDR), (r::ISACTIVER, r::ICACTIVER)] {
            g.dwr(0, set + 4, 0b110);
            assert_eq!(g.drd(0, clear + 4), 0b110);
            g.dwr(0, clear + 4, 0b100);
            assert_eq!(g.drd(0, set + 4), 0b010);
            g.dwr(0, clear + 4, 0b010);
            assert_eq!(g.drd(0, set + 4), 0);
        }
        g.dwr(0, r::IGROUPR + 4, 0b100);
        assert_eq!(g.drd(0, r::IGROUPR + 4), 0b100, "group is plain read/write");
        g.dwr(0, r::ICFGR + 8, 0b10 << 4);
        assert_eq!(
            g.drd(0, r::ICFGR + 8),
            0b10 << 4,
            "INTID 34 edge, bit 0 of each field reserved"
        );
    }
}

#[test]
fn priorities_by_byte_and_by_word() {
    let mut g = v3(&[0], &[33, 34]);
    let fx = g.gicd(0, r::IPRIORITYR + 33, Width::Byte, Some(0xa7)).write();
    assert_eq!(fx.denied, None);
    assert_eq!(g.drd(0, r::IPRIORITYR + 32), 0xa0 << 8, "five priority bits");
    let fx = g.dwr(0, r::IPRIORITYR + 32, 0x1122_3344);
    assert_eq!(
        fx.denied,
        Some(Denied::Intid { first: 32, count: 2 }),
        "INTIDs 32 and 35"
    );
    assert_eq!(g.drd(0, r::IPRIORITYR + 32), 0x0020_3000);
    assert_eq!(g.gicd(0, r::IPRIORITYR + 34, Width::Byte, None), Outcome::Read(0x20));
    assert_eq!(
        g.gicd(0, r::IPRIORITYR + 35, Width::Byte, Some(0x80)).write().denied,
        Some(Denied::Intid { first: 35, count: 1 })
    );
    assert_eq!(g.gicd(0, r::IPRIORITYR + 35, Width::Byte, None), Outcome::Read(0));
}

#[test]
fn irouter_routes_spis_by_affinity() {
    let mut g = v3(&[0x0, 0x1_0000_0203], &[40]);
    let at = r::IROUTER + 8 * 40;
    assert_eq!(g.gicd(0, at, Width::Double, None), Outcome::Read(0), "reset: vCPU 0");
    g.gicd(0, at, Width::Double, Some(0x1_8000_0203 | 0xff00 << 40)).write();
    assert_eq!(
        g.gicd(0, at, Width::Double, None).value(),
        0x1_0000_0203,
        "IRM and reserved bits RAZ/WI"
    );
    assert_eq!(g.gicd(0, at + 4, Width::Word, None).value(), 0x1, "upper half: Aff3");
    assert_eq!(g.spis[0].target, Some(1));
    g.dwr(0, CTLR, 0x3);
    g.dwr(0, r::ISENABLER + 4, 1 << 8);
    assert_eq!(g.inject(0, 40, None), Ok(VcpuSet(0b10)), "delivered to vCPU 1");
    // Rewriting the low half only: Aff3 stays, Aff0 changes to one nobody has.
    let fx = g.gicd(0, at, Width::Word, Some(0x0000_0204)).write();
    assert!(fx.kick.is_empty(), "no vCPU has that affinity: the interrupt waits");
    assert_eq!(g.gicd(0, at, Width::Double, None).value(), 0x1_0000_0204);
    assert_eq!(g.spis[0].target, None);
    let fx = g.gicd(0, at + 4, Width::Word, Some(0)).write();
    assert_eq!(g.gicd(0, at, Width::Double, None).value(), 0x204 & IROUTER_MASK);
    assert!(fx.kick.is_empty());
    let fx = g.gicd(0, at, Width::Double, Some(0)).write();
    assert_eq!(fx.kick, VcpuSet(0b01), "routed back to vCPU 0, which can take it now");
    assert_eq!(g.gicd(0, r::IROUTER + 8 * 41, Width::Double, None).value(), 0);
    assert_eq!(
        g.gicd(0, r::IROUTER + 8 * 3, Width::Double, Some(1)).write(),
        Effects::default(),
        "reserved below 32"
    );
}

#[test]
fn itargetsr_routes_spis_on_gicv2() {
    let mut g = v2(2, &[40]);
    assert_eq!(g.gicd(0, r::ITARGETSR + 40, Width::Byte, None), Outcome::Read(1));
    g.gicd(0, r::ITARGETSR + 40, Width::Byte, Some(0xfe)).write();
    assert_eq!(
        g.gicd(0, r::ITARGETSR + 40, Width::Byte, None),
        Outcome::Read(2),
        "absent CPU interfaces dropped"
    );
    assert_eq!(g.spis[0].target, Some(1));
    g.gicd(0, r::ITARGETSR + 40, Width::Byte, Some(0)).write();
    assert_eq!(g.spis[0].target, None);
    assert_eq!(g.drd(0, r::ITARGETSR + 40), 0);
    assert_eq!(
        g.gicd(0, r::IROUTER, Width::Double, None),
        Outcome::Bad,
        "outside a GICv2 window"
    );
}
