//! Semantic-check tests: one per check in `check.rs` (and the reference checks of
//! `parse.rs`), each breaking the good tree in exactly one place.

use super::testfdt::*;
use super::tests::{errs, lines, only_err};
use super::*;

const P0P: &str = "/hypervisor/partitions/partition@0";
const P1P: &str = "/hypervisor/partitions/partition@1";
const M1: &str = "hypervisor/partitions/partition@1/memory@49000000";
const M1P: &str = "/hypervisor/partitions/partition@1/memory@49000000";
const SHM: &str = "hypervisor/shared-memory/region@4f000000";
const SHMP: &str = "/hypervisor/shared-memory/region@4f000000";

#[test]
fn duplicate_partition_id() {
    let mut t = good();
    t.set(P1, "reg", u32s(&[0]));
    t.set(SHM, "bulkhead,partitions", u32s(&[0]));
    only_err!(t, P1P, "reg", ErrorKind::DuplicatePartitionId { id: 0, .. });
}

#[test]
fn duplicate_label() {
    let mut t = good();
    t.set(P1, "label", s("ticker"));
    let e = only_err!(t, P1P, "label", ErrorKind::DuplicateLabel { .. });
    assert!(e.to_string().contains("already used by /hypervisor/partitions/partition@0"), "{e}");
}

#[test]
fn no_cpus() {
    let mut t = good();
    t.unset(P1, "bulkhead,cpus");
    only_err!(t, P1P, "bulkhead,cpus", ErrorKind::NoCpus);
    t.set(P1, "bulkhead,cpus", vec![]);
    only_err!(t, P1P, "bulkhead,cpus", ErrorKind::NoCpus);
}

#[test]
fn cpu_not_present() {
    let mut t = good();
    t.set(P1, "bulkhead,cpus", u32s(&[4]));
    only_err!(t, P1P, "bulkhead,cpus", ErrorKind::CpuNotPresent(4));
}

#[test]
fn cpu_in_two_partitions() {
    let mut t = good();
    t.set(P1, "bulkhead,cpus", u32s(&[2, 1]));
    only_err!(t, P1P, "bulkhead,cpus", ErrorKind::CpuTwice { cpu: 1, .. });
    let mut t = good();
    t.set(P1, "bulkhead,cpus", u32s(&[2, 2]));
    only_err!(t, P1P, "bulkhead,cpus", ErrorKind::CpuTwice { cpu: 2, .. });
}

#[test]
fn no_memory() {
    let mut t = good();
    t.remove(M1);
    only_err!(t, P1P, "", ErrorKind::NoMemory);
}

#[test]
fn unaligned_regions() {
    let mut t = good();
    t.set(M1, "reg", r64(0x4900_0800, 0x10_0000));
    only_err!(t, M1P, "reg", ErrorKind::Unaligned { what: "base", .. });
    t.set(M1, "reg", r64(0x4900_0000, 0x10_0800));
    only_err!(t, M1P, "reg", ErrorKind::Unaligned { what: "size", .. });
    let mut t = good();
    t.set(M1, "bulkhead,guest-address", a64(0x4000_0010));
    only_err!(t, M1P, "bulkhead,guest-address", ErrorKind::Unaligned { what: "guest address", .. });
}

#[test]
fn zero_size_and_wrapping() {
    let mut t = good();
    t.set(M1, "reg", r64(0x4900_0000, 0));
    only_err!(t, M1P, "reg", ErrorKind::ZeroSize);
    t.set(M1, "reg", r64(0xffff_ffff_ffff_f000, 0x2000));
    only_err!(t, M1P, "reg", ErrorKind::Wraps(_));
    let mut t = good();
    t.set(M1, "bulkhead,guest-address", a64(0xffff_ffff_ffff_f000));
    only_err!(t, M1P, "bulkhead,guest-address", ErrorKind::Wraps(_));
}

#[test]
fn outside_ram() {
    let mut t = good();
    t.set(M1, "reg", r64(0x8000_0000, 0x100_0000));
    only_err!(t, M1P, "reg", ErrorKind::OutsideRam(_));
    t.set(M1, "reg", r64(0x7f00_0000, 0x200_0000)); // straddles the end of RAM
    only_err!(t, M1P, "reg", ErrorKind::OutsideRam(_));
}

#[test]
fn overlaps_hypervisor() {
    let mut t = good();
    t.set(M1, "reg", r64(0x40f0_0000, 0x100_0000));
    only_err!(t, M1P, "reg", ErrorKind::OverlapsHypervisor(_));
}

#[test]
fn overlaps_other_partition() {
    let mut t = good();
    t.set(M1, "reg", r64(0x4800_0000, 0x100_0000));
    let e = only_err!(t, M1P, "reg", ErrorKind::Overlaps { .. });
    assert_eq!(
        e.to_string(),
        "/hypervisor/partitions/partition@1/memory@49000000: reg: overlaps memory@48000000 of partition@0 \
         (0x48000000..0x49000000); give each partition its own range"
    );
}

#[test]
fn overlaps_same_partition_and_shared() {
    let mut t = good();
    t.add(P1, Node::new("memory@49800000").p("reg", r64(0x4980_0000, 0x1000)).p("bulkhead,guest-address", a64(0x5000_0000)));
    only_err!(t, "/hypervisor/partitions/partition@1/memory@49800000", "reg", ErrorKind::Overlaps { .. });
    let mut t = good();
    t.set(SHM, "reg", r64(0x4900_0000, 0x1000));
    only_err!(t, SHMP, "reg", ErrorKind::Overlaps { .. });
}

#[test]
fn guest_ranges_overlap() {
    let mut t = good();
    t.add(P1, Node::new("memory@4a000000").p("reg", r64(0x4a00_0000, 0x1000)).p("bulkhead,guest-address", a64(0x4000_0000)));
    only_err!(t, "/hypervisor/partitions/partition@1/memory@4a000000", "bulkhead,guest-address", ErrorKind::GuestOverlaps { .. });
    // A shared region is mapped at its host address: guest RAM must not cover it.
    let mut t = good();
    t.set(M1, "bulkhead,guest-address", a64(0x4f00_0000));
    only_err!(t, M1P, "bulkhead,guest-address", ErrorKind::GuestOverlaps { .. });
}

#[test]
fn device_not_found() {
    let mut t = good();
    t.set(P1, "bulkhead,devices", strs(&["/pl061@9999"]));
    only_err!(t, P1P, "bulkhead,devices", ErrorKind::PathNotFound(_));
    t.set(P1, "bulkhead,devices", strs(&["pl061@9030000"]));
    only_err!(t, P1P, "bulkhead,devices", ErrorKind::PathNotFound(_));
}

#[test]
fn device_in_two_partitions() {
    let mut t = good();
    t.set(P1, "bulkhead,devices", strs(&["/pl061@9030000"]));
    only_err!(t, P1P, "bulkhead,devices", ErrorKind::DeviceTwice { .. });
    let mut t = good();
    t.set(P0, "bulkhead,devices", strs(&["/pl061@9030000", "/pl061"]));
    only_err!(t, P0P, "bulkhead,devices", ErrorKind::DeviceTwice { .. });
}

#[test]
fn device_without_reg() {
    let mut t = good();
    t.set(P1, "bulkhead,devices", strs(&["/nothing@0"]));
    only_err!(t, P1P, "bulkhead,devices", ErrorKind::DeviceNoReg(_));
}

#[test]
fn device_is_console() {
    let mut t = good();
    t.set(P1, "bulkhead,devices", strs(&["/pl011@9000000"]));
    only_err!(t, P1P, "bulkhead,devices", ErrorKind::DeviceIsConsole(_));
}

#[test]
fn device_untranslatable_and_bad_interrupts() {
    let mut t = good();
    t.unset("soc", "ranges");
    t.set(P1, "bulkhead,devices", strs(&["/soc/serial@4500"]));
    only_err!(t, P1P, "bulkhead,devices", ErrorKind::Untranslatable { .. });
    let mut t = good();
    t.set("pl061@9030000", "interrupts", u32s(&[0, 7]));
    only_err!(t, P0P, "bulkhead,devices", ErrorKind::BadInterrupts { .. });
}

#[test]
fn irq_in_two_partitions() {
    let mut t = good();
    t.set(P1, "bulkhead,devices", strs(&["/gpio-twin@9040000"]));
    let e = only_err!(t, P1P, "bulkhead,devices", ErrorKind::IrqTwice { irq: 39, .. });
    assert!(e.to_string().contains("also used by /pl061@9030000 of partition@0"), "{e}");
    // Sharing a line inside one partition is fine.
    let mut t = good();
    t.set(P0, "bulkhead,devices", strs(&["/pl061@9030000", "/gpio-twin@9040000"]));
    assert!(errs(&t).is_empty(), "{:?}", lines(&errs(&t)));
}

#[test]
fn shared_region_names_unknown_partition() {
    let mut t = good();
    t.set(SHM, "bulkhead,partitions", u32s(&[0, 5]));
    only_err!(t, SHMP, "bulkhead,partitions", ErrorKind::UnknownPartition(5));
}

#[test]
fn too_many_devices() {
    let mut t = good();
    let many: Vec<String> = (0..9).map(|i| format!("/dev@{i}")).collect();
    for i in 0..9u32 {
        t.add("", Node::new(&format!("dev@{i}")).p("reg", r64(0x1000_0000 + u64::from(i) * 0x1000, 0x1000)));
    }
    let refs: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
    t.set(P1, "bulkhead,devices", strs(&refs));
    only_err!(t, P1P, "bulkhead,devices", ErrorKind::TooMany { what: "devices", max: 8 });
}

#[test]
fn image_addresses_outside_guest_memory() {
    let img = "hypervisor/partitions/partition@0/image";
    let imgp = "/hypervisor/partitions/partition@0/image";
    let mut t = good();
    t.set(img, "bulkhead,load-address", a64(0x4800_0000));
    t.set(img, "bulkhead,entry", a64(0x4800_0000));
    let es = errs(&t);
    assert_eq!(es.len(), 2, "{:?}", lines(&es));
    assert!(es.iter().all(|e| e.node.as_str() == imgp && matches!(e.kind, ErrorKind::OutsideGuestMemory(0x4800_0000))));
}

#[test]
fn staged_image_placement() {
    let img = "hypervisor/partitions/partition@0/image";
    let imgp = "/hypervisor/partitions/partition@0/image";
    let mut t = good();
    t.set(img, "reg", r64(0x5000_0000, 0x1234)); // free RAM, any size: fine
    assert!(errs(&t).is_empty(), "{:?}", lines(&errs(&t)));
    t.set(img, "reg", r64(0x9000_0000, 0x1000));
    only_err!(t, imgp, "reg", ErrorKind::OutsideRam(_));
    t.set(img, "reg", r64(0x4000_1000, 0x1000));
    only_err!(t, imgp, "reg", ErrorKind::OverlapsHypervisor(_));
    t.set(img, "reg", r64(0x4900_0000, 0x1000));
    only_err!(t, imgp, "reg", ErrorKind::StagedOverlaps { .. });
}

#[test]
fn no_partitions() {
    let t = board();
    only_err!(t, "/hypervisor/partitions", "", ErrorKind::MissingNode(_));
}

#[test]
fn device_carrying_the_hypervisor_log() {
    let mut t = good();
    t.set("/hypervisor", "bulkhead,log", s("/pl061@9030000"));
    let es = errs(&t);
    assert!(es.iter().any(|e| e.property == "bulkhead,devices" && matches!(e.kind, ErrorKind::DeviceIsLog(_))), "{:#?}", lines(&es));
    let mut t = good();
    t.set("/hypervisor", "bulkhead,log", s("/nowhere"));
    only_err!(t, "/hypervisor", "bulkhead,log", ErrorKind::PathNotFound(_));
}

#[test]
fn interrupt_controller_is_not_a_device() {
    let mut t = good();
    t.set(P0P, "bulkhead,devices", strs(&["/intc@8000000"]));
    only_err!(t, P0P, "bulkhead,devices", ErrorKind::DeviceIsInterruptController(_));
}
