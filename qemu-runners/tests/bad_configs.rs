//! The bad-configuration corpus (`tests/bad-configs/<board>/*.dtso`) and the good
//! configurations (`guest-configs/*.dtso`) through `qemu_runners::config::check`.
//!
//! Each corpus file breaks one rule and starts with `/* expect: <substring> */`; its test
//! asserts that some reported error line contains that substring. Every file is its own
//! `#[test]` (listed in `bad!` below), and `corpus_list_matches_directory` fails if a file
//! is added or removed without updating the list, so nothing is skipped silently.
//! Needs dtc and fdtoverlay (scripts/setup.sh installs them).

use std::path::{Path, PathBuf};

use qemu_runners::config;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn board_dts(board: &str) -> PathBuf {
    root().join("boards").join(board).join("board.dts")
}

/// The `expect:` substring from a corpus file's first line.
fn expectation(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let first = text.lines().next().unwrap_or_default();
    let rest = first
        .strip_prefix("/* expect: ")
        .and_then(|r| r.strip_suffix(" */"))
        .unwrap_or_else(|| panic!("{}: first line must be /* expect: <substring> */", file.display()));
    rest.to_string()
}

fn bad(board: &str, name: &str) {
    let file = root().join("tests/bad-configs").join(board).join(format!("{name}.dtso"));
    let want = expectation(&file);
    let errors = config::check(&board_dts(board), &[file.clone()]).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        errors.iter().any(|e| e.contains(&want)),
        "{}: expected an error containing\n  {want}\ngot:\n  {}",
        file.display(),
        errors.join("\n  ")
    );
}

macro_rules! bad {
    ($($test:ident => $board:literal, $name:literal;)*) => {
        $(#[test] fn $test() { bad($board, $name); })*
        const CORPUS: &[(&str, &str)] = &[$(($board, $name)),*];
    };
}

bad! {
    bochs_x86_64_cpu_not_present => "bochs-x86_64", "cpu-not-present";
    bochs_x86_64_device_is_hypervisor_console => "bochs-x86_64", "device-is-hypervisor-console";
    bochs_x86_64_device_is_hypervisor_log => "bochs-x86_64", "device-is-hypervisor-log";
    bochs_x86_64_outside_ram => "bochs-x86_64", "outside-ram";
    qemu_ppce500_cpu_not_present => "qemu-ppce500", "cpu-not-present";
    qemu_ppce500_device_is_hypervisor_console => "qemu-ppce500", "device-is-hypervisor-console";
    qemu_ppce500_device_is_interrupt_controller => "qemu-ppce500", "device-is-interrupt-controller";
    qemu_ppce500_device_untranslatable => "qemu-ppce500", "device-untranslatable";
    qemu_ppce500_overlaps_hypervisor => "qemu-ppce500", "overlaps-hypervisor";
    qemu_ppce500_too_many_interrupts => "qemu-ppce500", "too-many-interrupts";
    qemu_virt_aarch64_bad_size_cells => "qemu-virt-aarch64", "bad-size-cells";
    qemu_virt_aarch64_cpu_in_two_partitions => "qemu-virt-aarch64", "cpu-in-two-partitions";
    qemu_virt_aarch64_cpu_not_present => "qemu-virt-aarch64", "cpu-not-present";
    qemu_virt_aarch64_device_in_two_partitions => "qemu-virt-aarch64", "device-in-two-partitions";
    qemu_virt_aarch64_device_is_hypervisor_console => "qemu-virt-aarch64", "device-is-hypervisor-console";
    qemu_virt_aarch64_device_not_found => "qemu-virt-aarch64", "device-not-found";
    qemu_virt_aarch64_device_without_reg => "qemu-virt-aarch64", "device-without-reg";
    qemu_virt_aarch64_duplicate_partition_id => "qemu-virt-aarch64", "duplicate-partition-id";
    qemu_virt_aarch64_guest_ranges_overlap => "qemu-virt-aarch64", "guest-ranges-overlap";
    qemu_virt_aarch64_image_does_not_fit => "qemu-virt-aarch64", "image-does-not-fit";
    qemu_virt_aarch64_image_file_missing => "qemu-virt-aarch64", "image-file-missing";
    qemu_virt_aarch64_image_load_address_outside => "qemu-virt-aarch64", "image-load-address-outside";
    qemu_virt_aarch64_irq_in_two_partitions => "qemu-virt-aarch64", "irq-in-two-partitions";
    qemu_virt_aarch64_label_bad_chars => "qemu-virt-aarch64", "label-bad-chars";
    qemu_virt_aarch64_label_duplicate => "qemu-virt-aarch64", "label-duplicate";
    qemu_virt_aarch64_label_missing => "qemu-virt-aarch64", "label-missing";
    qemu_virt_aarch64_label_too_long => "qemu-virt-aarch64", "label-too-long";
    qemu_virt_aarch64_missing_compatible => "qemu-virt-aarch64", "missing-compatible";
    qemu_virt_aarch64_no_cpus => "qemu-virt-aarch64", "no-cpus";
    qemu_virt_aarch64_no_memory => "qemu-virt-aarch64", "no-memory";
    qemu_virt_aarch64_outside_ram => "qemu-virt-aarch64", "outside-ram";
    qemu_virt_aarch64_overlaps_hypervisor => "qemu-virt-aarch64", "overlaps-hypervisor";
    qemu_virt_aarch64_overlaps_other_partition => "qemu-virt-aarch64", "overlaps-other-partition";
    qemu_virt_aarch64_partition_id_out_of_range => "qemu-virt-aarch64", "partition-id-out-of-range";
    qemu_virt_aarch64_shared_overlaps_partition => "qemu-virt-aarch64", "shared-overlaps-partition";
    qemu_virt_aarch64_shared_unknown_partition => "qemu-virt-aarch64", "shared-unknown-partition";
    qemu_virt_aarch64_staged_image_outside_ram => "qemu-virt-aarch64", "staged-image-outside-ram";
    qemu_virt_aarch64_staged_image_overlaps_partition => "qemu-virt-aarch64", "staged-image-overlaps-partition";
    qemu_virt_aarch64_too_many_partitions => "qemu-virt-aarch64", "too-many-partitions";
    qemu_virt_aarch64_unaligned_base => "qemu-virt-aarch64", "unaligned-base";
    qemu_virt_aarch64_unaligned_guest_address => "qemu-virt-aarch64", "unaligned-guest-address";
    qemu_virt_aarch64_unaligned_size => "qemu-virt-aarch64", "unaligned-size";
    qemu_virt_aarch64_unknown_bulkhead_property => "qemu-virt-aarch64", "unknown-bulkhead-property";
    qemu_virt_aarch64_unknown_console => "qemu-virt-aarch64", "unknown-console";
    qemu_virt_aarch64_unknown_fault_policy => "qemu-virt-aarch64", "unknown-fault-policy";
    qemu_virt_aarch64_unknown_image_format => "qemu-virt-aarch64", "unknown-image-format";
    qemu_virt_aarch64_unknown_subnode => "qemu-virt-aarch64", "unknown-subnode";
    qemu_virt_aarch64_wrapping_region => "qemu-virt-aarch64", "wrapping-region";
    qemu_virt_aarch64_zero_size => "qemu-virt-aarch64", "zero-size";
}

#[test]
fn corpus_list_matches_directory() {
    let mut on_disk = Vec::new();
    for board in std::fs::read_dir(root().join("tests/bad-configs")).unwrap() {
        let board = board.unwrap().path();
        for f in std::fs::read_dir(&board).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "dtso") {
                let b = board.file_name().unwrap().to_string_lossy().into_owned();
                on_disk.push((b, f.file_stem().unwrap().to_string_lossy().into_owned()));
            }
        }
    }
    on_disk.sort();
    let mut listed: Vec<(String, String)> = CORPUS.iter().map(|(b, n)| (b.to_string(), n.to_string())).collect();
    listed.sort();
    assert_eq!(listed, on_disk, "update the bad! list in qemu-runners/tests/bad_configs.rs");
    assert!(listed.len() >= 24);
}

#[test]
fn corpus_expectations_are_distinct() {
    let mut seen = std::collections::HashSet::new();
    for (b, n) in CORPUS {
        let e = expectation(&root().join("tests/bad-configs").join(b).join(format!("{n}.dtso")));
        assert!(seen.insert((b.to_string(), e.clone())), "{b}/{n}: expectation repeated: {e}");
    }
}

/// `guest:NAME` images are test guests the runner cross-builds at boot (and checks then);
/// here it is enough that a test-guest crate declares the binary.
fn test_guest_exists(value: &str) -> Result<Option<std::path::PathBuf>, String> {
    let name = value.strip_prefix("guest:").ok_or_else(|| format!("{value}: not a test guest"))?;
    let declared = std::fs::read_dir(root().join("tests/guests"))
        .map_err(|e| e.to_string())?
        .filter_map(|d| std::fs::read_to_string(d.ok()?.path().join("Cargo.toml")).ok())
        .any(|toml| toml.contains(&format!("name = \"{name}\"")));
    if declared {
        Ok(None)
    } else {
        Err(format!("{value}: no test guest declares a binary named {name}"))
    }
}

fn good(board_file: &str, config: &str) {
    let file = root().join("guest-configs").join(config);
    let files = [file];
    let next_to = config::next_to(&files);
    let resolve = |v: &str| if v.starts_with("guest:") { test_guest_exists(v) } else { next_to(v) };
    let errors = config::check_with(&root().join("boards").join(board_file), &files, &resolve)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(errors.is_empty(), "{config} on {board_file}:\n{}", errors.join("\n"));
}

#[test]
fn good_aarch64_demo() {
    good("qemu-virt-aarch64/board.dts", "aarch64-demo.dtso");
}

#[test]
fn good_aarch64_demo_gicv2() {
    good("qemu-virt-aarch64/board-gicv2.dts", "aarch64-demo.dtso");
}

#[test]
fn good_aarch64_first_light() {
    good("qemu-virt-aarch64/board.dts", "aarch64-first-light.dtso");
    good("qemu-virt-aarch64/board-gicv2.dts", "aarch64-first-light.dtso");
}

#[test]
fn good_ppce500_first_light() {
    good("qemu-ppce500/board.dts", "ppce500-first-light.dtso");
}

#[test]
fn good_ppce500_demo() {
    good("qemu-ppce500/board.dts", "ppce500-demo.dtso");
}

#[test]
fn good_x86_first_light() {
    good("bochs-x86_64/board.dts", "x86-first-light.dtso");
}

#[test]
fn good_x86_demo() {
    good("bochs-x86_64/board.dts", "x86-demo.dtso");
}

/// Every guest-configs/*.dtso is covered by one of the good_* tests above.
#[test]
fn every_good_config_is_tested() {
    let tested = ["aarch64-demo.dtso", "aarch64-first-light.dtso", "ppce500-first-light.dtso", "ppce500-demo.dtso", "x86-first-light.dtso", "x86-demo.dtso"];
    for f in std::fs::read_dir(root().join("guest-configs")).unwrap() {
        let f = f.unwrap().path();
        if f.extension().is_some_and(|e| e == "dtso") {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert!(tested.contains(&name.as_str()), "{name} has no good_* test in bad_configs.rs");
        }
    }
}

#[test]
fn board_tree_alone_reports_no_partitions() {
    let errors = config::check(&board_dts("qemu-virt-aarch64"), &[]).unwrap();
    assert_eq!(errors, ["/hypervisor/partitions: missing partition@N node; add it"]);
}

#[test]
fn dtc_failure_names_the_file() {
    let dir = std::env::temp_dir().join(format!("bulkhead-bad-syntax-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("broken.dtso");
    std::fs::write(&f, "/dts-v1/;\n/plugin/;\n&{/hypervisor/partitions} { partition@0 { reg = <0> }; };\n").unwrap();
    let err = config::check(&board_dts("qemu-virt-aarch64"), &[f]).unwrap_err();
    assert!(format!("{err:#}").contains("broken.dtso"), "{err:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// dt-schema: every good configuration, applied on its board, passes `dt-validate`
/// limited to the bulkhead schemas; a bad label does not.
#[test]
fn schema_validates_good_configs_and_rejects_a_bad_one() {
    let pairs = [
        ("qemu-virt-aarch64/board.dts", "guest-configs/aarch64-demo.dtso"),
        ("qemu-virt-aarch64/board.dts", "guest-configs/aarch64-first-light.dtso"),
        ("qemu-ppce500/board.dts", "guest-configs/ppce500-first-light.dtso"),
        ("bochs-x86_64/board.dts", "guest-configs/x86-first-light.dtso"),
        ("bochs-x86_64/board.dts", "guest-configs/x86-demo.dtso"),
    ];
    let dir = std::env::temp_dir().join(format!("bulkhead-schema-{}", std::process::id()));
    for (i, (board, ovl)) in pairs.iter().enumerate() {
        let out = dir.join(i.to_string());
        let dtb = config::build_dtb(&root().join("boards").join(board), &[root().join(ovl)], &out).unwrap();
        config::schema_validate(&dtb).unwrap_or_else(|e| panic!("{ovl}: {e:#}"));
    }
    let bad = root().join("tests/bad-configs/qemu-virt-aarch64/label-bad-chars.dtso");
    let dtb = config::build_dtb(&board_dts("qemu-virt-aarch64"), &[bad], &dir.join("bad")).unwrap();
    let err = config::schema_validate(&dtb).unwrap_err();
    assert!(format!("{err:#}").contains("'Ticker' does not match"), "{err:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
