//! Parser tests: the good tree, syntax-level errors, and robustness on hostile blobs.

use std::string::{String, ToString};
use std::vec::Vec;

use super::testfdt::*;
use super::*;

pub(crate) fn errs(t: &Node) -> Vec<ConfigError> {
    let mut v = Vec::new();
    parse_all(&t.dtb(), &mut |e| v.push(e.clone()));
    v
}

pub(crate) fn lines(es: &[ConfigError]) -> Vec<String> {
    es.iter().map(|e| e.to_string()).collect()
}

/// Asserts that `t` yields exactly one error, at `node`/`prop`, of the given kind.
macro_rules! only_err {
    ($t:expr, $node:expr, $prop:expr, $pat:pat) => {{
        let es = crate::config::tests::errs(&$t);
        let ok = es.len() == 1 && es[0].node.as_str() == $node && es[0].property == $prop && matches!(es[0].kind, $pat);
        assert!(ok, "expected only {} {} {}, got {:#?}", $node, $prop, stringify!($pat), crate::config::tests::lines(&es));
        es.into_iter().next().unwrap()
    }};
}
pub(crate) use only_err;

#[test]
fn good_tree_parses() {
    let cfg = parse(&good().dtb()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.hypervisor, Range::new(0x4000_0000, 0x100_0000));
    assert_eq!(cfg.ram.as_slice(), &[Range::new(0x4000_0000, 0x4000_0000)]);
    assert_eq!(cfg.cpus_present.as_slice(), &[0, 1, 2, 3]);
    assert_eq!(cfg.console.as_deref(), Some("/pl011@9000000"));
    let p0 = &cfg.partitions[0];
    assert_eq!((p0.id, p0.name.as_str(), p0.cpus.as_slice()), (0, "ticker", &[1][..]));
    assert_eq!(p0.memory[0], MemoryRegion { host: Range::new(0x4800_0000, 0x100_0000), guest_base: 0x4000_0000 });
    assert_eq!(p0.devices[0].path.as_str(), "/pl061@9030000");
    assert_eq!(p0.devices[0].mmio.as_slice(), &[Range::new(0x903_0000, 0x1000)]);
    assert_eq!(p0.devices[0].irqs.as_slice(), &[39]); // SPI 7
    assert_eq!((p0.console.clone(), p0.fault_policy), (Console::Emulated, FaultPolicy::Stop));
    let img = p0.image.as_ref().unwrap();
    assert_eq!((img.format, img.load_address, img.file.as_str()), (ImageFormat::Raw, Some(0x4008_0000), "ticker.bin"));
    let p1 = &cfg.partitions[1];
    assert_eq!((p1.console.clone(), p1.fault_policy), (Console::None, FaultPolicy::Restart));
    assert_eq!(cfg.shared[0].partitions.as_slice(), &[0, 1]);
    assert_eq!(cfg.shared[0].name.as_str(), "ipc");
}

#[test]
fn parse_into_reuses_a_config() {
    let mut cfg = Config::new();
    assert_eq!(parse_into(&good().dtb(), &mut cfg, &mut |e| panic!("{e}")), 0);
    assert_eq!(parse_into(&good().dtb(), &mut cfg, &mut |e| panic!("{e}")), 0);
    assert_eq!(cfg.partitions.len(), 2);
}

#[test]
fn translated_device_and_ppi() {
    let mut t = good();
    t.set(P1, "bulkhead,devices", strs(&["/soc/serial@4500"]));
    let cfg = parse(&t.dtb()).unwrap_or_else(|e| panic!("{e}"));
    let d = &cfg.partitions[1].devices[0];
    assert_eq!(d.mmio[0], Range::new(0xa00_4500, 0x100));
    assert_eq!(d.irqs[0], 18); // PPI 2
    // Unit address may be left out when unambiguous.
    t.set(P1, "bulkhead,devices", strs(&["/soc/serial"]));
    assert_eq!(parse(&t.dtb()).unwrap().partitions[1].devices[0].path.as_str(), "/soc/serial@4500");
}

#[test]
fn mpic_style_interrupts_use_the_first_cell() {
    let mut t = good();
    t.set("intc@8000000", "compatible", s("chrp,open-pic"));
    t.set("intc@8000000", "#interrupt-cells", u32s(&[2]));
    t.set("pl061@9030000", "interrupts", u32s(&[42, 2]));
    assert_eq!(parse(&t.dtb()).unwrap().partitions[0].devices[0].irqs[0], 42);
}

#[test]
fn error_line_format() {
    let mut t = good();
    t.set(P1, "bulkhead,fault-policy", s("explode"));
    let e = only_err!(t, "/hypervisor/partitions/partition@1", "bulkhead,fault-policy", ErrorKind::UnknownValue { .. });
    assert_eq!(
        e.to_string(),
        "/hypervisor/partitions/partition@1: bulkhead,fault-policy: unknown value; use one of \"inject\", \"stop\", \"restart\""
    );
}

#[test]
fn parse_returns_first_error_parse_all_every_error() {
    let mut t = good();
    t.set(P0, "bulkhead,console", s("serial"));
    t.set(P1, "bulkhead,fault-policy", s("never"));
    assert_eq!(errs(&t).len(), 2);
    assert_eq!(parse(&t.dtb()).unwrap_err().property, "bulkhead,console");
}

#[test]
fn no_hypervisor() {
    let mut t = good();
    t.remove("/hypervisor");
    only_err!(t, "/hypervisor", "", ErrorKind::NoHypervisor);
}

#[test]
fn hypervisor_compatible_and_reg() {
    let mut t = good();
    t.set("hypervisor", "compatible", s("bulkhead,hv"));
    only_err!(t, "/hypervisor", "compatible", ErrorKind::BadCompatible(_));
    let mut t = good();
    t.set("hypervisor", "reg", u32s(&[0x4000_0000, 0x100_0000]));
    only_err!(t, "/hypervisor", "reg", ErrorKind::BadLength { len: 8, .. });
}

#[test]
fn hypervisor_console_not_found() {
    let mut t = good();
    t.set("hypervisor", "bulkhead,console", s("/pl011@9999"));
    only_err!(t, "/hypervisor", "bulkhead,console", ErrorKind::PathNotFound(_));
}

#[test]
fn bad_cells() {
    let mut t = good();
    t.set("hypervisor/partitions", "#size-cells", u32s(&[1]));
    only_err!(t, "/hypervisor/partitions", "#size-cells", ErrorKind::BadCells { value: 1, .. });
    let mut t = good();
    t.set(P0, "#address-cells", u32s(&[3]));
    let es = errs(&t);
    assert!(es.iter().any(|e| e.property == "#address-cells" && matches!(e.kind, ErrorKind::BadCells { value: 3, .. })), "{:?}", lines(&es));
}

#[test]
fn bad_lengths() {
    let mut t = good();
    t.set(&format!("{P0}/memory@48000000"), "reg", u32s(&[0x4800_0000, 0x100_0000]));
    only_err!(t, "/hypervisor/partitions/partition@0/memory@48000000", "reg", ErrorKind::BadLength { len: 8, .. });
    let mut t = good();
    t.set(P0, "reg", u32s(&[0, 0]));
    t.set("hypervisor/shared-memory/region@4f000000", "bulkhead,partitions", u32s(&[1]));
    only_err!(t, "/hypervisor/partitions/partition@0", "reg", ErrorKind::BadLength { len: 8, .. });
    let mut t = good();
    t.set(&format!("{P0}/memory@48000000"), "bulkhead,guest-address", u32s(&[0x4000_0000]));
    only_err!(t, "/hypervisor/partitions/partition@0/memory@48000000", "bulkhead,guest-address", ErrorKind::BadLength { .. });
    let mut t = good();
    t.set(P0, "bulkhead,cpus", vec![0, 0, 1]);
    only_err!(t, "/hypervisor/partitions/partition@0", "bulkhead,cpus", ErrorKind::BadLength { len: 3, .. });
}

#[test]
fn bad_strings() {
    let mut t = good();
    t.set(P0, "bulkhead,console", b"emulated".to_vec()); // no NUL
    only_err!(t, "/hypervisor/partitions/partition@0", "bulkhead,console", ErrorKind::BadString);
}

#[test]
fn partition_id_out_of_range() {
    let mut t = good();
    t.set(P1, "reg", u32s(&[8]));
    t.set("hypervisor/shared-memory/region@4f000000", "bulkhead,partitions", u32s(&[0]));
    only_err!(t, "/hypervisor/partitions/partition@1", "reg", ErrorKind::PartitionIdOutOfRange { id: 8, .. });
}

#[test]
fn labels() {
    let mut t = good();
    t.unset(P1, "label");
    only_err!(t, "/hypervisor/partitions/partition@1", "label", ErrorKind::MissingProperty);
    let mut t = good();
    t.set(P1, "label", s("a-very-long-label-indeed"));
    only_err!(t, "/hypervisor/partitions/partition@1", "label", ErrorKind::LabelTooLong { len: 24, max: 16 });
    for bad in ["Echo", "ec ho", "", "é"] {
        let mut t = good();
        t.set(P1, "label", s(bad));
        only_err!(t, "/hypervisor/partitions/partition@1", "label", ErrorKind::LabelBadChar);
    }
}

#[test]
fn unknown_strings() {
    let mut t = good();
    t.set(P0, "bulkhead,console", s("serial"));
    only_err!(t, "/hypervisor/partitions/partition@0", "bulkhead,console", ErrorKind::UnknownValue { .. });
    let mut t = good();
    t.set(&format!("{P0}/image"), "bulkhead,format", s("uimage"));
    only_err!(t, "/hypervisor/partitions/partition@0/image", "bulkhead,format", ErrorKind::UnknownValue { .. });
}

#[test]
fn unknown_bulkhead_property_and_node() {
    let mut t = good();
    t.set(P0, "bulkhead,cpu", u32s(&[1]));
    let e = only_err!(t, "/hypervisor/partitions/partition@0", "", ErrorKind::UnknownProperty(_));
    assert!(e.to_string().contains("unknown property bulkhead,cpu;"), "{e}");
    let mut t = good();
    t.set(&format!("{P0}/image"), "bulkhead,load-adress", a64(0));
    only_err!(t, "/hypervisor/partitions/partition@0/image", "", ErrorKind::UnknownProperty(_));
    let mut t = good();
    t.add(P0, Node::new("memroy@50000000"));
    only_err!(t, "/hypervisor/partitions/partition@0/memroy@50000000", "", ErrorKind::UnknownNode);
    // Non-bulkhead properties (e.g. phandle added by dtc -@) are fine.
    let mut t = good();
    t.set(P0, "phandle", u32s(&[7]));
    assert!(errs(&t).is_empty());
}

#[test]
fn image_needs_file_format_and_load_address() {
    let mut t = good();
    t.unset(&format!("{P0}/image"), "bulkhead,file");
    only_err!(t, "/hypervisor/partitions/partition@0/image", "bulkhead,file", ErrorKind::MissingProperty);
    let mut t = good();
    t.unset(&format!("{P0}/image"), "bulkhead,format");
    only_err!(t, "/hypervisor/partitions/partition@0/image", "bulkhead,format", ErrorKind::MissingProperty);
    let mut t = good();
    t.unset(&format!("{P0}/image"), "bulkhead,load-address");
    only_err!(t, "/hypervisor/partitions/partition@0/image", "bulkhead,load-address", ErrorKind::MissingProperty);
    t.set(&format!("{P0}/image"), "bulkhead,format", s("elf"));
    assert!(errs(&t).is_empty());
}

#[test]
fn capacity() {
    let mut t = board();
    for i in 0..9u32 {
        t.add("hypervisor/partitions", partition(i, &format!("p{i}"), i % 4, 0x4800_0000 + u64::from(i) * 0x100_0000));
    }
    let es = errs(&t);
    assert!(es.iter().any(|e| matches!(e.kind, ErrorKind::TooMany { what: "partitions", max: 8 })), "{:?}", lines(&es));
    let mut t = good();
    for i in 0..8u64 {
        t.add(P1, Node::new(&format!("memory@{:x}", 0x5000_0000 + i * 0x1000)).p("reg", r64(0x5000_0000 + i * 0x1000, 0x1000)));
    }
    let es = errs(&t);
    assert!(es.iter().any(|e| matches!(e.kind, ErrorKind::TooMany { what: "memory regions in one partition", .. })), "{:?}", lines(&es));
}

#[test]
fn hostile_blobs_never_panic() {
    let good = good().dtb();
    let mut n = 0;
    // Every truncation.
    for len in 0..good.len() {
        let _ = parse(&good[..len]);
        n += 1;
    }
    // Every single-byte corruption with a few values, truncation-free and in place.
    let mut b = good.clone();
    for i in 0..good.len() {
        for v in [0x00, 0xff, 0x01, 0x02, 0x03, 0x04, 0x80] {
            let old = b[i];
            b[i] = v;
            let _ = parse(&b);
            let _ = parse_all(&b, &mut |_| {});
            b[i] = old;
            n += 1;
        }
    }
    // Pseudo-random garbage, with a valid header in front sometimes.
    let mut x: u64 = 0x1234_5678_9abc_def1;
    for round in 0..2000 {
        let mut buf = if round % 2 == 0 { good[..40].to_vec() } else { Vec::new() };
        for _ in 0..(round % 300) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.push(x as u8);
        }
        let _ = parse(&buf);
    }
    assert!(n > 1000);
    assert!(matches!(parse(&[]).unwrap_err().kind, ErrorKind::BadBlob(_)));
}

#[test]
fn absurd_cells_and_values_never_panic() {
    for (prop, v) in [
        ("#address-cells", u32s(&[0xffff_ffff])),
        ("#size-cells", u32s(&[1000])),
        ("#address-cells", vec![1]),
        ("#size-cells", u32s(&[0, 0])),
    ] {
        for node in ["", "cpus", "soc", "hypervisor/partitions", P0, "hypervisor/shared-memory"] {
            let mut t = good();
            t.set(node, prop, v.clone());
            t.set(P1, "bulkhead,devices", strs(&["/soc/serial@4500", "/", "/nothing@0", "relative", "//"]));
            let _ = parse_all(&t.dtb(), &mut |_| {});
        }
    }
    let mut t = good();
    t.set(&format!("{P0}/memory@48000000"), "reg", r64(u64::MAX, u64::MAX));
    t.set(&format!("{P0}/memory@48000000"), "bulkhead,guest-address", a64(u64::MAX));
    t.set(&format!("{P0}/image"), "reg", r64(u64::MAX - 1, 5));
    t.set("pl061@9030000", "interrupts", u32s(&[0, u32::MAX, 4]));
    t.set("soc", "ranges", u32s(&[0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff]));
    assert!(!errs(&t).is_empty());
    // Deep nesting is refused, not recursed into.
    let mut deep = Node::new("d");
    for _ in 0..40 {
        deep = Node::new("d").c(deep);
    }
    let mut t = good();
    t.add("", deep);
    assert!(matches!(parse(&t.dtb()).unwrap_err().kind, ErrorKind::BadBlob(_)));
}

#[test]
fn initramfs_and_bootargs() {
    let mut t = good();
    t.set(P0, "bulkhead,bootargs", s("console=ttyAMA0 rdinit=/init"));
    t.add(
        P0,
        Node::new("initramfs")
            .p("bulkhead,file", s("initramfs.cpio"))
            .p("bulkhead,format", s("raw"))
            .p("bulkhead,load-address", a64(0x4080_0000)),
    );
    let cfg = parse(&t.dtb()).unwrap_or_else(|e| panic!("{e}"));
    let p0 = &cfg.partitions[0];
    assert_eq!(p0.bootargs.as_deref(), Some("console=ttyAMA0 rdinit=/init"));
    let rd = p0.initramfs.as_ref().unwrap();
    assert_eq!((rd.format, rd.load_address, rd.file.as_str()), (ImageFormat::Raw, Some(0x4080_0000), "initramfs.cpio"));
    assert_eq!(p0.images().map(|(n, _)| n).collect::<Vec<_>>(), ["image", "initramfs"]);
}

#[test]
fn initramfs_is_raw_and_inside_guest_memory() {
    let mut t = good();
    let rd = |format: &str| Node::new("initramfs").p("bulkhead,file", s("rd")).p("bulkhead,format", s(format));
    t.add(P0, rd("elf"));
    only_err!(t, "/hypervisor/partitions/partition@0/initramfs", "bulkhead,format", ErrorKind::UnknownValue { .. });
    let mut t = good();
    t.add(P0, rd("raw").p("bulkhead,load-address", a64(0x5000_0000)));
    only_err!(t, "/hypervisor/partitions/partition@0/initramfs", "bulkhead,load-address", ErrorKind::OutsideGuestMemory(0x5000_0000));
}

#[test]
fn bootargs_too_long() {
    let mut t = good();
    t.set(P0, "bulkhead,bootargs", s(&"x".repeat(MAX_BOOTARGS + 1)));
    only_err!(t, "/hypervisor/partitions/partition@0", "bulkhead,bootargs", ErrorKind::TooMany { .. });
}
