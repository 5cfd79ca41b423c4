//! Test helpers shared by the vGIC modules, and the properties that span them: the
//! deterministic random access test (no panic, nothing outside the partition changes).

use super::distributor::{SIZE_V2, SIZE_V3};
use super::redistributor::{FRAME, STRIDE};
use super::regs::{self, Kind};
use super::*;
use hv::exit::Width;

/// Offset of the SGI frame inside a redistributor.
pub const FRAME_SGI: u64 = FRAME;

/// A GICv3 vGIC with the given vCPU affinities and SPIs.
pub fn v3(vcpus: &[u64], spis: &[u32]) -> Vgic {
    Vgic::new(&VgicConfig {
        version: Version::V3,
        vcpus,
        spis,
    })
    .expect("valid test configuration")
}

/// A GICv2 vGIC with `n` vCPUs (affinities 0..n) and the given SPIs.
pub fn v2(n: usize, spis: &[u32]) -> Vgic {
    let vcpus: Vec<u64> = (0..n as u64).collect();
    Vgic::new(&VgicConfig {
        version: Version::V2,
        vcpus: &vcpus,
        spis,
    })
    .expect("valid test configuration")
}

pub trait OutcomeExt {
    fn value(self) -> u64;
    fn write(self) -> Effects;
}

impl OutcomeExt for Outcome {
    #[track_caller]
    fn value(self) -> u64 {
        match self {
            Outcome::Read(v) => v,
            other => panic!("expected a read, got {other:?}"),
        }
    }
    #[track_caller]
    fn write(self) -> Effects {
        match self {
            Outcome::Write(fx) => fx,
            other => panic!("expected a write, got {other:?}"),
        }
    }
}

/// 32-bit accesses: `rd`/`wr` to redistributor `r`, `drd`/`dwr` to the distributor as
/// vCPU `v`.
pub trait Acc {
    fn rd(&mut self, r: usize, off: u64) -> u64;
    fn wr(&mut self, r: usize, off: u64, value: u64) -> Effects;
    fn drd(&mut self, v: usize, off: u64) -> u64;
    fn dwr(&mut self, v: usize, off: u64, value: u64) -> Effects;
}

impl Acc for Vgic {
    #[track_caller]
    fn rd(&mut self, r: usize, off: u64) -> u64 {
        self.gicr(r as u64 * STRIDE + off, Width::Word, None).value()
    }
    #[track_caller]
    fn wr(&mut self, r: usize, off: u64, value: u64) -> Effects {
        self.gicr(r as u64 * STRIDE + off, Width::Word, Some(value)).write()
    }
    #[track_caller]
    fn drd(&mut self, v: usize, off: u64) -> u64 {
        self.gicd(v, off, Width::Word, None).value()
    }
    #[track_caller]
    fn dwr(&mut self, v: usize, off: u64, value: u64) -> Effects {
        self.gicd(v, off, Width::Word, Some(value)).write()
    }
}

#[test]
fn configuration_is_checked() {
    let cfg = |vcpus: &'static [u64], spis: &'static [u32]| VgicConfig {
        version: Version::V3,
        vcpus,
        spis,
    };
    assert_eq!(Vgic::new(&cfg(&[], &[])).err(), Some(ConfigError::NoVcpus));
    assert_eq!(Vgic::new(&cfg(&[0; 9], &[])).err(), Some(ConfigError::TooManyVcpus));
    assert_eq!(Vgic::new(&cfg(&[0, 1], &[31])).err(), Some(ConfigError::NotAnSpi(31)));
    assert_eq!(
        Vgic::new(&cfg(&[0, 1], &[1020])).err(),
        Some(ConfigError::NotAnSpi(1020))
    );
    assert_eq!(
        Vgic::new(&cfg(&[0, 1], &[40, 33, 40])).err(),
        Some(ConfigError::DuplicateSpi(40))
    );
    assert_eq!(
        Vgic::new(&cfg(&[1, 1], &[])).err(),
        Some(ConfigError::DuplicateAffinity(1))
    );
    let too_many: Vec<u32> = (32..32 + MAX_SPIS as u32 + 1).collect();
    let g = Vgic::new(&VgicConfig {
        version: Version::V3,
        vcpus: &[0],
        spis: &too_many,
    });
    assert_eq!(g.err(), Some(ConfigError::TooManySpis));
    let g = v3(&[0, 1], &[79, 33, 48]);
    assert!(g.owns_spi(33) && g.owns_spi(48) && g.owns_spi(79) && !g.owns_spi(34));
    assert_eq!(g.max_intid(), 79);
}

/// splitmix64: small, deterministic, good enough to spread offsets and values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Register bases the random test aims at half the time (the rest is anywhere).
const HOT: [u64; 16] = [
    distributor::CTLR,
    distributor::TYPER,
    distributor::SGIR,
    regs::IGROUPR,
    regs::ISENABLER,
    regs::ICENABLER,
    regs::ISPENDR,
    regs::ICPENDR,
    regs::ISACTIVER,
    regs::ICACTIVER,
    regs::IPRIORITYR,
    regs::ITARGETSR,
    regs::ICFGR,
    regs::IROUTER,
    redistributor::WAKER,
    distributor::PIDR2_V3,
];

/// Every field of every per-INTID array for `intid` reads as zero through the distributor
/// (both its banked views on GICv2).
fn reads_as_zero(g: &mut Vgic, intid: u32) -> bool {
    let arrays = [
        (regs::IGROUPR, 1),
        (regs::ISENABLER, 1),
        (regs::ICENABLER, 1),
        (regs::ISPENDR, 1),
        (regs::ICPENDR, 1),
        (regs::ISACTIVER, 1),
        (regs::ICACTIVER, 1),
        (regs::IPRIORITYR, 8),
        (regs::ITARGETSR, 8),
        (regs::ICFGR, 2),
    ];
    let base = u64::from(intid);
    for (array, bits) in arrays {
        let off = array + base * bits / 8;
        let word = g.gicd(0, off & !3, Width::Word, None).value();
        let shift = (base * bits) % 32;
        if (word >> shift) & ((1 << bits) - 1) != 0 {
            return false;
        }
    }
    g.version() != Version::V3 || g.gicd(0, regs::IROUTER + 8 * base, Width::Double, None).value() == 0
}

fn random_accesses(mut g: Vgic, seed: u64, count: u32) {
    let mut rng = Rng(seed);
    let gicd_size = g.gicd_size();
    let gicr_size = g.gicr_size();
    let widths = [Width::Byte, Width::Half, Width::Word, Width::Double];
    let mut lrs = [Lr::INVALID; 4];
    let foreign: Vec<u32> = (32..1020).filter(|&i| !g.owns_spi(i)).collect();
    for n in 0..count {
        let width = widths[rng.below(4) as usize];
        let value = match rng.below(4) {
            0 => 0,
            1 => u64::MAX,
            _ => rng.next(),
        };
        let write = (rng.below(2) == 0).then_some(value);
        let vcpu = rng.below(g.vcpus() as u64 + 1) as usize; // sometimes one too many
        let hot = HOT[rng.below(HOT.len() as u64) as usize];
        let near = hot + rng.below(0x100);
        let outcome = match rng.below(8) {
            0 => g.gicd(vcpu, rng.below(gicd_size + 8), width, write),
            1..=3 => g.gicd(vcpu, near, width, write),
            4 => g.gicr(rng.below(gicr_size + 8), width, write),
            5 => {
                let r = rng.below(g.vcpus() as u64);
                g.gicr(r * STRIDE + FRAME_SGI * rng.below(2) + near, width, write)
            }
            6 => Outcome::Write(g.sgi1r(vcpu, value)),
            _ => {
                // The guest runs: fill, let it take/EOI at random, fold back.
                let v = rng.below(g.vcpus() as u64) as usize;
                let _ = g.inject(
                    v,
                    rng.below(1024) as u32,
                    (rng.below(4) == 0).then(|| rng.below(1024) as u32),
                );
                let _ = g.fill(v, &mut lrs);
                for lr in lrs.iter_mut() {
                    lr.state = LrState::from_flags(rng.below(2) == 0, rng.below(2) == 0);
                }
                let _ = g.sync_from(v, &lrs);
                g.take_deactivations(|p| assert!(p < 1020, "deactivation of {p}"));
                Outcome::Read(0)
            }
        };
        // A write that touched nothing but foreign INTIDs with non-zero fields is reported.
        if let Outcome::Write(fx) = outcome {
            if let Some(Denied::Intid { first, count }) = fx.denied {
                assert!(!g.owns_spi(first) && count > 0);
            }
        }
        if n % 50_000 == 0 {
            for &intid in foreign.iter().step_by(7) {
                assert!(
                    reads_as_zero(&mut g, intid),
                    "foreign INTID {intid} changed after {n} accesses"
                );
            }
        }
    }
    for &intid in &foreign {
        assert!(reads_as_zero(&mut g, intid), "foreign INTID {intid} changed");
    }
}

#[test]
fn a_million_random_accesses_never_panic_nor_leak() {
    let (count, spis) = (250_000, [33u32, 34, 79, 200, 1019]);
    random_accesses(v3(&[0, 1, 0x100, 0x1_0000_0000], &spis), 1, count);
    random_accesses(v3(&[0], &[]), 2, count);
    random_accesses(v2(3, &spis), 3, count);
    random_accesses(v2(1, &[]), 4, count);
}

#[test]
fn writes_to_foreign_interrupts_are_reported_on_every_array() {
    for version in [Version::V3, Version::V2] {
        let mut g = Vgic::new(&VgicConfig {
            version,
            vcpus: &[0, 1],
            spis: &[33],
        })
        .unwrap();
        for (base, kind_bits) in [
            (regs::IGROUPR, 1u64),
            (regs::ISENABLER, 1),
            (regs::ICENABLER, 1),
            (regs::ISPENDR, 1),
            (regs::ICPENDR, 1),
            (regs::ISACTIVER, 1),
            (regs::ICACTIVER, 1),
            (regs::IPRIORITYR, 8),
            (regs::ICFGR, 2),
        ] {
            // INTIDs 32..64: 33 is owned; the write covers 32 and 34.. too.
            let off = base + 32 * kind_bits / 8;
            let fx = g.dwr(0, off, u64::from(u32::MAX));
            let expect_first = 32;
            assert!(
                matches!(fx.denied, Some(Denied::Intid { first, .. }) if first == expect_first),
                "{version} array {base:#x}: {fx:?}"
            );
            assert_eq!(regs::find(off, 1024).map(|(k, _)| k == Kind::Router), Some(false));
        }
        // Zero bits in a write-1-to-set register ask nothing: not reported.
        assert_eq!(g.dwr(0, regs::ISENABLER + 4, 1 << 1).denied, None);
        assert_eq!(g.drd(0, regs::ISENABLER + 4), 1 << 1);
    }
    let mut g = v3(&[0], &[33]);
    let fx = g.gicd(0, regs::IROUTER + 8 * 34, Width::Double, Some(0)).write();
    assert_eq!(
        fx.denied,
        Some(Denied::Intid { first: 34, count: 1 }),
        "any IROUTER write is a change"
    );
    let mut g = v2(1, &[33]);
    let fx = g.gicd(0, regs::ITARGETSR + 35, Width::Byte, Some(1)).write();
    assert_eq!(fx.denied, Some(Denied::Intid { first: 35, count: 1 }));
    let fx = g.gicd(0, regs::ITARGETSR + 32, Width::Word, Some(0x0101_0101)).write();
    assert_eq!(fx.denied, Some(Denied::Intid { first: 32, count: 3 }));
}

#[test]
fn window_sizes() {
    assert_eq!(v3(&[0, 1], &[]).gicd_size(), SIZE_V3);
    assert_eq!(v2(1, &[]).gicd_size(), SIZE_V2);
    assert_eq!(v3(&[0, 1], &[]).gicr_size(), 2 * STRIDE);
    let mut g = v2(1, &[]);
    assert_eq!(g.gicr(0, Width::Word, None), Outcome::Bad, "no redistributors on GICv2");
    assert_eq!(g.gicd(0, SIZE_V2, Width::Word, None), Outcome::Bad);
    assert_eq!(g.gicd(1, 0, Width::Word, None), Outcome::Bad, "no such vCPU");
}
