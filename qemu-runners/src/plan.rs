//! What `cargo xtask test` runs, and the demo and benchmark plans.
//!
//! Tests here observe real behaviour: host unit tests (pure logic), the configuration
//! corpus (every bad overlay must fail with its own error), and boots of the hypervisor on
//! emulated machines, judged by what their consoles print and how they stop.

use anyhow::{bail, Context, Result};
use regex::Regex;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{boards, console, prepare, setup, workspace_root};

/// One boot of one configuration on one board, judged by its console.
struct Scenario {
    name: &'static str,
    board: &'static str,
    config: &'static str,
    /// Console lines expected in order.
    expect: &'static [&'static str],
    /// The machine must power itself off afterwards.
    poweroff: bool,
    /// Run the host-side check first (off to prove the hypervisor's own boot-time checks).
    host_check: bool,
    timeout_s: u64,
    /// (partition label, test guest): the partition's console lines must equal what the
    /// guest prints when it runs alone on the plain machine (equivalence, and isolation:
    /// a neighbour of an attacker prints exactly what it prints alone).
    same_as_native: &'static [(&'static str, &'static str)],
    /// Console input: (pattern, text) typed when a line or the unfinished last line (a
    /// prompt) matches, in order.
    input: &'static [(&'static str, &'static str)],
}

/// Lines that must never appear on any console.
const FORBIDDEN: &[&str] = &[r"(?i)panicked at", r"unexpected exception", r"(?i)hypervisor panic"];

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "first-light/qemu-virt-aarch64",
        board: "qemu-virt-aarch64",
        config: "guest-configs/aarch64-first-light.dtso",
        expect: &[
            r"^bulkhead \d+\.\d+\.\d+\S* on qemu-virt-aarch64$",
            r"^hw: exception level: EL2$",
            r"^hw: gic: .*v3",
            r"^hw: list registers: [1-9]\d*$",
            r"^hypervisor: 0x40000000\.\.0x41000000, 3 partition\(s\)$",
            r#"^partition 0 "\S+": cpus 1;"#,
            r#"^partition 2 "\S+": cpus 3;"#,
            r"^first light: ok$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "first-light/qemu-virt-aarch64-gicv2",
        board: "qemu-virt-aarch64-gicv2",
        config: "guest-configs/aarch64-first-light.dtso",
        expect: &[
            r"^bulkhead \S+ on qemu-virt-aarch64$",
            r"^hw: exception level: EL2$",
            r"^hw: gic: .*v2",
            r"^hw: list registers: [1-9]\d*$",
            r#"^partition 0 "\S+": cpus 1;"#,
            r"^first light: ok$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "demo/qemu-virt-aarch64",
        board: "qemu-virt-aarch64",
        config: "guest-configs/aarch64-demo.dtso",
        expect: &[
            r"^first light: ok$",
            r"^partitions: started 3$",
            r"^\[hypercalls\] version: status 0 abi 1\.0$",
            r"^\[hypercalls\] info: status 0 id 2 vcpus 1 ram 0x1000000$",
            r"^\[hypercalls\] hello through CONSOLE_WRITE$",
            r"^\[hypercalls\] console_write outside own memory: status -3$",
            r"^\[hypercalls\] console_write wrapping: status -3$",
            r"^\[hypercalls\] console_write too long: status -2$",
            r"^\[hypercalls\] stats: status 0 hypercalls>=6 true$",
            r#"^hv: partition 2 "hypercalls": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("ticker", "ticker"), ("tocker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "demo/qemu-virt-aarch64-gicv2",
        board: "qemu-virt-aarch64-gicv2",
        config: "guest-configs/aarch64-demo.dtso",
        expect: &[r"^partitions: started 3$", r"^\[hypercalls\] hypercalls: done$", r"^hv: all partitions stopped$"],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("ticker", "ticker"), ("tocker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "isolation/aarch64-stop",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-isolation.dtso",
        expect: &[
            r"^partitions: started 2$",
            r#"^hv: partition 1 "attacker": read outside its memory at 0x49000000; stopping it$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "isolation/aarch64-inject",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-isolation-inject.dtso",
        expect: &[
            r#"^hv: partition 1 "attacker": read outside its memory at 0x49000000; injected$"#,
            // A data abort taken from EL1 at EL1 (EC 0x25), FAR = the address it read.
            r"^\[attacker\] guest exception: EC 0x25 ESR 0x96000010 ELR 0x[0-9a-f]+ FAR 0x49000000$",
            r#"^hv: partition 1 "attacker": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "isolation/aarch64-restart",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-isolation-restart.dtso",
        expect: &[
            r#"^hv: partition 1 "attacker": read outside its memory at 0x49000000; restarting it$"#,
            r#"^hv: partition 1 "attacker": restarting \(fault\)$"#,
            r"^\[attacker\] attacker: reading 0x49000000$",
            r"^\[ticker\] ticker: 5 ticks, time advanced: true$",
        ],
        // The attacker faults forever (restart has no limit yet): stop once the ticker is done.
        poweroff: false,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "timer-irq/qemu-virt-aarch64",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-timer-irq.dtso",
        // Two partitions take their virtual timer interrupts through the vGIC; their lines
        // interleave freely, each partition's must equal the guest's native run.
        expect: &[r"^partitions: started 2$", r"^hv: all partitions stopped$"],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("tick", "timer-irq"), ("tock", "timer-irq")],
        input: &[],
    },
    Scenario {
        name: "isolation/gic-attacker",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-gic-attacker.dtso",
        expect: &[
            r"^\[gic-attacker\] gic-attacker: enabling INTID 39$",
            r#"^hv: partition 1 "gic-attacker": wrote distributor state of INTID 39 it does not own; ignored$"#,
            r"^\[gic-attacker\] gic-attacker: ISENABLER1 reads 0x0, IPRIORITYR byte 39 reads 0x0$",
            r#"^hv: partition 1 "gic-attacker": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("timer-irq", "timer-irq")],
        input: &[],
    },
    Scenario {
        name: "timer-irq/qemu-virt-aarch64-gicv2",
        board: "qemu-virt-aarch64-gicv2",
        config: "tests/scenarios/aarch64-timer-irq.dtso",
        // Two partitions take their virtual timer interrupts through the vGIC; their lines
        // interleave freely, each partition's must equal the guest's native run.
        expect: &[r"^partitions: started 2$", r"^hv: all partitions stopped$"],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("tick", "timer-irq"), ("tock", "timer-irq")],
        input: &[],
    },
    Scenario {
        name: "isolation/gic-attacker-gicv2",
        board: "qemu-virt-aarch64-gicv2",
        config: "tests/scenarios/aarch64-gic-attacker.dtso",
        expect: &[
            r"^\[gic-attacker\] gic-attacker: enabling INTID 39$",
            r#"^hv: partition 1 "gic-attacker": wrote distributor state of INTID 39 it does not own; ignored$"#,
            r"^\[gic-attacker\] gic-attacker: ISENABLER1 reads 0x0, IPRIORITYR byte 39 reads 0x0$",
            r#"^hv: partition 1 "gic-attacker": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("timer-irq", "timer-irq")],
        input: &[],
    },
    Scenario {
        name: "passthrough/rtc-irq-aarch64",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-rtc-irq.dtso",
        // A passthrough device's interrupt: the partition owns the PL031 RTC and its SPI 2
        // (INTID 34), programs three one-second matches and takes each through its vGIC
        // (HW = 1: its EOI deactivates the physical SPI), exactly as it does natively.
        expect: &[
            r"^partitions: started 2$",
            r"^\[rtc-irq\] rtc-irq: interrupt 3$",
            r#"^hv: partition 0 "rtc-irq": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("rtc-irq", "rtc-irq"), ("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "passthrough/rtc-irq-aarch64-gicv2",
        board: "qemu-virt-aarch64-gicv2",
        config: "tests/scenarios/aarch64-rtc-irq.dtso",
        // The same through the GICv2 virtual interface (GICV mapped as the guest's GICC).
        expect: &[
            r"^partitions: started 2$",
            r"^\[rtc-irq\] rtc-irq: interrupt 3$",
            r#"^hv: partition 0 "rtc-irq": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("rtc-irq", "rtc-irq"), ("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "psci-reset/qemu-virt-aarch64",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-reset.dtso",
        // PSCI SYSTEM_RESET restarts only the calling partition: its image is reloaded,
        // the rest of its RAM (a marker word) kept; natively QEMU's reset does the same.
        expect: &[
            r"^\[reset\] reset: resetting$",
            r#"^hv: partition 0 "reset": restarting \(reset requested\)$"#,
            r"^\[reset\] reset: second boot$",
            r#"^hv: partition 0 "reset": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("reset", "reset"), ("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "smp/qemu-virt-aarch64",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-smp.dtso",
        // Three vCPUs: PSCI CPU_ON, AFFINITY_INFO, SGIs between them (ICC_SGI1R_EL1), one
        // to a CPU the partition does not have (refused), CPU_OFF, then SYSTEM_RESET with a
        // secondary on (every vCPU stops, vCPU 0 restarts, the others are off again).
        // Equal to its native run (QEMU virt, -smp 4); the ticker beside it to its own.
        expect: &[
            r"^partitions: started 2$",
            r"^\[smp\] smp: boot 1$",
            r"^\[smp\] smp: SGI 3 cpu 1 -> cpu 2: taken$",
            r"^\[smp\] smp: SGI 3 cpu 0 -> cpu 3 \(never started\)$",
            r#"^hv: partition 0 "smp": sent an IPI to CPU 0x3 it does not have; ignored$"#,
            r"^\[smp\] smp: cpu 2 after CPU_OFF: off$",
            r"^\[smp\] smp: SYSTEM_RESET with cpu 1 on$",
            r#"^hv: partition 0 "smp": restarting \(reset requested\)$"#,
            r"^\[smp\] smp: boot 2$",
            r"^\[smp\] smp: cpu 1 before CPU_ON: off$",
            r"^\[smp\] smp: done$",
            r#"^hv: partition 0 "smp": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("smp", "smp"), ("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "smp/qemu-virt-aarch64-gicv2",
        board: "qemu-virt-aarch64-gicv2",
        config: "tests/scenarios/aarch64-smp.dtso",
        // The same through the GICv2 model (GICD_SGIR, CPU interface numbers).
        expect: &[
            r"^partitions: started 2$",
            r"^\[smp\] smp: boot 1$",
            r"^\[smp\] smp: SGI 3 cpu 1 -> cpu 2: taken$",
            r"^\[smp\] smp: SGI 3 cpu 0 -> cpu 3 \(never started\)$",
            r#"^hv: partition 0 "smp": sent an IPI to CPU 0x3 it does not have; ignored$"#,
            r"^\[smp\] smp: cpu 2 after CPU_OFF: off$",
            r"^\[smp\] smp: SYSTEM_RESET with cpu 1 on$",
            r#"^hv: partition 0 "smp": restarting \(reset requested\)$"#,
            r"^\[smp\] smp: boot 2$",
            r"^\[smp\] smp: cpu 1 before CPU_ON: off$",
            r"^\[smp\] smp: done$",
            r#"^hv: partition 0 "smp": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("smp", "smp"), ("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "smp/restart-fault-on-secondary",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-smp-fault.dtso",
        // Policy "restart" on a fault of vCPU 1: vCPU 0 (asleep in WFI) is stopped and
        // restarted at the entry, vCPU 1 turns off and is started again by the second boot.
        expect: &[
            r"^\[smp-fault\] smp-fault: boot 1$",
            r"^\[smp-fault\] smp-fault: starting cpu 1, which reads 0x49000000$",
            r#"^hv: partition 0 "smp-fault": read outside its memory at 0x49000000; restarting it$"#,
            r#"^hv: partition 0 "smp-fault": restarting \(fault\)$"#,
            r"^\[smp-fault\] smp-fault: boot 2$",
            r"^\[smp-fault\] smp-fault: cpu 1 before CPU_ON: off$",
            r"^\[smp-fault\] smp-fault: CPU_ON cpu 1: success$",
            r"^\[smp-fault\] smp-fault: cpu 1 up: on, its SGI taken$",
            r#"^hv: partition 0 "smp-fault": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "isolation/aarch64-attacker2-stop",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-attacker2-stop.dtso",
        // A store into the neighbour's RAM under policy "stop": the attacker stops at its
        // first attack, the ticker beside it prints exactly what it prints alone.
        expect: &[
            r"^\[attacker2\] attacker2: writing 0x49000000$",
            r#"^hv: partition 1 "attacker2": write outside its memory at 0x49000000; stopping it$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "isolation/aarch64-attacker2-inject",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-attacker2-inject.dtso",
        // Every attack under policy "inject", each reported by the attacker's own vector
        // (which resumes after it): the neighbour write as a data abort (the one fault the
        // hypervisor reports: once per partition), EL2/EL3 registers UNDEFINED at EL1
        // without reaching EL2, the trapped physical timer, SMC and undefined hypercall
        // as undefined instructions; a 100000-hypercall flood answered in full.
        expect: &[
            r"^\[attacker2\] attacker2: writing 0x49000000$",
            r#"^hv: partition 1 "attacker2": write outside its memory at 0x49000000; injected$"#,
            r"^\[attacker2\] attacker2: exception EC 0x25 ESR 0x96000050 FAR 0x49000000$",
            r"^\[attacker2\] attacker2: reading HCR_EL2$",
            r"^\[attacker2\] attacker2: exception EC 0x0 ESR 0x2000000$",
            r"^\[attacker2\] attacker2: reading SCR_EL3$",
            r"^\[attacker2\] attacker2: exception EC 0x0 ESR 0x2000000$",
            r"^\[attacker2\] attacker2: reading CNTP_CTL_EL0$",
            r"^\[attacker2\] attacker2: exception EC 0x0 ESR 0x2000000$",
            r"^\[attacker2\] attacker2: smc 0xc2000001$",
            r"^\[attacker2\] attacker2: exception EC 0x0 ESR 0x2000000$",
            r"^\[attacker2\] attacker2: 100000 VERSION hypercalls$",
            r"^\[attacker2\] attacker2: 100000 answered$",
            r"^\[attacker2\] attacker2: hypercall 0xc6000042$",
            r"^\[attacker2\] attacker2: exception EC 0x0 ESR 0x2000000$",
            r"^\[attacker2\] attacker2: done$",
            r#"^hv: partition 1 "attacker2": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 90,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "isolation/aarch64-attacker2-restart",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-attacker2-restart.dtso",
        // Every attack under policy "restart": each one that reaches EL2 is reported with
        // its own cause and restarts the attacker, which resumes with the next attack
        // (its progress is kept in RAM outside its image); the ticker is undisturbed.
        expect: &[
            r#"^hv: partition 1 "attacker2": write outside its memory at 0x49000000; restarting it$"#,
            r#"^hv: partition 1 "attacker2": restarting \(fault\)$"#,
            r"^\[attacker2\] attacker2: reading HCR_EL2$",
            r"^\[attacker2\] attacker2: exception EC 0x0 ESR 0x2000000$",
            r"^\[attacker2\] attacker2: reading CNTP_CTL_EL0$",
            // EC 0x18 (trapped MRS) of CNTP_CTL_EL0 into x0..x30.
            r#"^hv: partition 1 "attacker2": forbidden privileged operation \(syndrome 0x6232f[0-9a-f]{3}\); restarting it$"#,
            r"^\[attacker2\] attacker2: smc 0xc2000001$",
            r#"^hv: partition 1 "attacker2": firmware call 0xc2000001 not allowed; restarting it$"#,
            r"^\[attacker2\] attacker2: 100000 answered$",
            r#"^hv: partition 1 "attacker2": undefined hypercall 0xc6000042; restarting it$"#,
            r"^\[attacker2\] attacker2: done$",
            r#"^hv: partition 1 "attacker2": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 90,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "linux/qemu-virt-aarch64",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-linux.dtso",
        // Debian's arm64 kernel to a busybox shell beside a ticker; poweroff stops only it.
        expect: &[
            r"^partitions: started 2$",
            r"^\[ticker\] ticker: 5 ticks, time advanced: true$",
            r"^\[linux\] linux: shell up$",
            r"^\[linux\] linux: cpus online 0$",
            r"^\[linux\] linux: slept 1 s",
            r#"^hv: partition 0 "linux": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 120,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "linux/qemu-virt-aarch64-gicv2",
        board: "qemu-virt-aarch64-gicv2",
        config: "tests/scenarios/aarch64-linux.dtso",
        // The same through the GICv2 virtual interface (GICV as the guest's GICC); relies on
        // Local::resignal before each idle WFI (QEMU 7.2's GICv2, docs/linux-guest.md).
        expect: &[
            r"^partitions: started 2$",
            r"^\[ticker\] ticker: 5 ticks, time advanced: true$",
            r"^\[linux\] linux: shell up$",
            r"^\[linux\] linux: cpus online 0$",
            r"^\[linux\] linux: slept 1 s",
            r#"^hv: partition 0 "linux": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 120,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "linux-smp/qemu-virt-aarch64",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-linux-smp.dtso",
        // The same with 2 vCPUs: PSCI CPU_ON, SGIs between them, one virtual counter.
        expect: &[
            r"^partitions: started 2$",
            r"^\[ticker\] ticker: 5 ticks, time advanced: true$",
            r"^\[linux\] linux: shell up$",
            r"^\[linux\] linux: cpus online 0-1$",
            r"^\[linux\] linux: slept 1 s",
            r#"^hv: partition 0 "linux": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 120,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "linux-smp-reboot/qemu-virt-aarch64",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-linux-reboot.dtso",
        // `reboot -f` in a 2-vCPU Linux: both vCPUs stop, the images are reloaded, vCPU 0
        // boots again and brings CPU 1 back (it reboots for ever: the test ends there).
        expect: &[
            r"^\[linux\] linux: shell up, cpus online 0-1$",
            r"^\[linux\] \[ *[0-9.]+\] reboot: Restarting system$",
            r#"^hv: partition 0 "linux": restarting \(reset requested\)$"#,
            r"^\[linux\] linux: shell up, cpus online 0-1$",
        ],
        poweroff: false,
        host_check: true,
        timeout_s: 120,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "linux-console/qemu-virt-aarch64",
        board: "qemu-virt-aarch64",
        config: "tests/scenarios/aarch64-linux-console.dtso",
        // An interactive busybox shell: a command typed at its prompt (shown when Linux
        // idles behind it) reaches Linux through the emulated PL011's receive interrupt
        // (the physical console's interrupt, the router, the virtual SPI), and its answer
        // comes back; the metronome beside it keeps beating (it runs a minute: the scenario
        // ends at its next beat after Linux powered off).
        expect: &[
            r"^partitions: started 2$",
            r"^\[linux\] linux: interactive shell on /dev/console$",
            // (Its echo of the command may be cut by a metronome line: not matched.)
            r"^\[linux\] typed-42$",
            r"^\[linux\] linux: shell exited$",
            r#"^hv: partition 0 "linux": powered off$"#,
            r"^\[metronome\] metronome: beat \d+$",
        ],
        poweroff: false,
        host_check: true,
        timeout_s: 120,
        same_as_native: &[],
        input: &[(r"^\[linux\] / # ", "echo typed-$((6*7))\r"), (r"^\[linux\] / # ", "exit\r")],
    },
    Scenario {
        name: "linux-console/qemu-virt-aarch64-gicv2",
        board: "qemu-virt-aarch64-gicv2",
        config: "tests/scenarios/aarch64-linux-console.dtso",
        // The same on GICv2 (the console's interrupt routed by GICD_ITARGETSR).
        expect: &[
            r"^partitions: started 2$",
            r"^\[linux\] linux: interactive shell on /dev/console$",
            // (Its echo of the command may be cut by a metronome line: not matched.)
            r"^\[linux\] typed-42$",
            r"^\[linux\] linux: shell exited$",
            r#"^hv: partition 0 "linux": powered off$"#,
            r"^\[metronome\] metronome: beat \d+$",
        ],
        poweroff: false,
        host_check: true,
        timeout_s: 120,
        same_as_native: &[],
        input: &[(r"^\[linux\] / # ", "echo typed-$((6*7))\r"), (r"^\[linux\] / # ", "exit\r")],
    },
    Scenario {
        name: "console-input/qemu-virt-aarch64",
        board: "qemu-virt-aarch64",
        // Two echo partitions: typed text goes to the one with the input focus; Ctrl-A 1
        // moves the focus to partition 1. Each must get exactly its own line.
        config: "tests/scenarios/aarch64-console-input.dtso",
        expect: &[
            r"^\[left\] echo: got one$",
            r"^hv: console input to partition 1$",
            r"^\[right\] echo: got two$",
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[],
        input: &[(r"^\[left\] echo: ready$", "one\r"), (r"^\[left\] echo: got ", "\u{1}1two\r")],
    },
    Scenario {
        name: "revalidation/qemu-virt-aarch64",
        board: "qemu-virt-aarch64",
        // A configuration the host tool rejects, booted anyway: the hypervisor must refuse it.
        config: "tests/bad-configs/qemu-virt-aarch64/overlaps-other-partition.dtso",
        expect: &[
            r"^config error: /hypervisor/partitions/partition@\d+/memory@[0-9a-f]+: reg: overlaps ",
            r"^first light: failed$",
        ],
        poweroff: true,
        host_check: false,
        timeout_s: 60,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "first-light/qemu-ppce500",
        board: "qemu-ppce500",
        config: "guest-configs/ppce500-first-light.dtso",
        expect: &[
            r"^bulkhead \S+ on qemu-ppce500$",
            r"^hw: pvr: 0x80210022",
            r"^hw: tlb0: \d+ entries",
            r"^hw: tlb1: 16 entries",
            r"^hw: timebase: 400000000 Hz$",
            r"^hypervisor: 0x0\.\.0x2000000, 1 partition\(s\)$",
            r#"^partition 0 "\S+": cpus 1;"#,
            r"^first light: ok$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "booke/hello",
        board: "qemu-ppce500",
        config: "tests/scenarios/ppce500-hello.dtso",
        expect: &[
            r#"^\[hello\] hello: msr 0x00000000 \(supervisor state\), pvr 0x80210022$"#,
            r#"^hv: partition 0 "hello": powered off$"#,
            r#"^hv: all partitions stopped$"#,
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("hello", "hello")],
        input: &[],
    },
    Scenario {
        name: "booke/ticker",
        board: "qemu-ppce500",
        config: "tests/scenarios/ppce500-ticker.dtso",
        expect: &[
            r#"^\[ticker\] tick 5$"#,
            r#"^\[ticker\] ticker: 5 ticks, time advanced: true$"#,
            r#"^hv: all partitions stopped$"#,
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    // FIT and watchdog: QEMU 7.2 never raises either natively (its booke_update_fixed_timer
    // only arms the timer while TSR[FIS]/TSR[WIS] is already set, and the watchdog callback
    // never sets TSR bits), so these guests end natively with "timed out after 0 ...": they
    // are checked against the Book E model's expected lines instead of a native run.
    Scenario {
        name: "booke/fit",
        board: "qemu-ppce500",
        config: "tests/scenarios/ppce500-fit.dtso",
        expect: &[
            r#"^\[fit\] fit: tick 5$"#,
            r#"^\[fit\] fit: 5 ticks, time advanced: true$"#,
            r#"^hv: all partitions stopped$"#,
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "booke/watchdog",
        board: "qemu-ppce500",
        config: "tests/scenarios/ppce500-watchdog.dtso",
        expect: &[
            r#"^\[watchdog\] watchdog: interrupt 3$"#,
            r#"^\[watchdog\] watchdog: 3 interrupts, time advanced: true$"#,
            r#"^hv: all partitions stopped$"#,
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "booke/syscall",
        board: "qemu-ppce500",
        config: "tests/scenarios/ppce500-syscall.dtso",
        expect: &[
            r#"syscall: hello from user mode"#,
            r#"user says 42"#,
            r#"user mode privileged instruction .*ESR 0x04000000"#,
            r#"user mode read of 0x00000000: data storage"#,
            r#"back in supervisor mode .*exit code 7"#,
            r#"^hv: all partitions stopped$"#,
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("syscall", "syscall")],
        input: &[],
    },
    Scenario {
        name: "booke/faults",
        board: "qemu-ppce500",
        config: "tests/scenarios/ppce500-faults.dtso",
        expect: &[
            r#"data TLB error \(store\) DEAR 0x30000008 ESR 0x00800000"#,
            r#"data storage \(store\) DEAR 0x30100004"#,
            r#"instruction TLB error at SRR0 0x30200000"#,
            r#"program \(illegal\) ESR 0x08000000"#,
            r#"program \(trap\) ESR 0x02000000"#,
            r#"alignment \(load\) DEAR 0x00003002"#,
            r#"faults: done"#,
            r#"^hv: all partitions stopped$"#,
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("faults", "faults")],
        input: &[],
    },
    Scenario {
        name: "booke/isolation-stop",
        board: "qemu-ppce500",
        config: "tests/scenarios/ppce500-attacker.dtso",
        expect: &[
            // Attacker and victim run side by side (one core each): the victim's lines may
            // come before or after the attacker's, so they are checked against its native
            // run instead of by position.
            r#"still running after the flood"#,
            r#"^hv: partition 0 "attacker": write outside its memory at 0x1000000; stopping it$"#,
            r#"^hv: all partitions stopped$"#,
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("victim", "hello")],
        input: &[],
    },
    Scenario {
        name: "booke/isolation-inject",
        board: "qemu-ppce500",
        config: "tests/scenarios/ppce500-attacker-inject.dtso",
        expect: &[
            r#"write outside its memory at 0x1000000; injected"#,
            r#"writing the MPIC \(physical 0xfe0040000\)"#,
            r#"writing the global utilities \(physical 0xfe00e0000\)"#,
            r#"refused: data access"#,
            r#"attacker: done"#,
            r#"^hv: all partitions stopped$"#,
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "booke/u-boot",
        board: "qemu-ppce500",
        // Debian's unmodified U-Boot in a partition, driven at its prompt.
        config: "tests/scenarios/ppce500-uboot.dtso",
        expect: &[
            r"^\[uboot\] U-Boot 2023\.01",
            r"^\[uboot\] DRAM:  128 MiB$",
            r"^\[uboot\] In:    serial@4500$",
            r"^\[uboot\] => version$",
            r"^\[uboot\] U-Boot 2023\.01\S* \(",
            r"^\[uboot\] => bdinfo$",
            r"^\[uboot\] -> size     = 0x08000000$",
            r"^\[uboot\] immr_base   = 0xe0000000$",
            r"^\[uboot\] => md 0xf00000 8$",
            r"^\[uboot\] 00f00000: 38200200 7c200124 7c781b78 38000002",
            r"^\[uboot\] => poweroff$",
            r#"^hv: partition 0 "uboot": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 90,
        same_as_native: &[],
        input: &[
            (r"^\[uboot\] => $", "version\r"),
            (r"^\[uboot\] => $", "bdinfo\r"),
            (r"^\[uboot\] => $", "md 0xf00000 8\r"),
            (r"^\[uboot\] => $", "poweroff\r"),
        ],
    },
    Scenario {
        name: "booke/u-boot-beside-ticker",
        board: "qemu-ppce500",
        // U-Boot on core 0 while a ticker partition runs on core 1; where the ticks land
        // among U-Boot's lines depends on timing, so the ticker is compared with its
        // native run instead.
        config: "guest-configs/ppce500-demo.dtso",
        expect: &[
            r"^\[uboot\] U-Boot 2023\.01",
            r"^\[uboot\] DRAM:  128 MiB$",
            r"^\[uboot\] In:    serial@4500$",
            r"^\[uboot\] => version$",
            r"^\[uboot\] U-Boot 2023\.01\S* \(",
            r"^\[uboot\] => bdinfo$",
            r"^\[uboot\] -> size     = 0x08000000$",
            r"^\[uboot\] immr_base   = 0xe0000000$",
            r"^\[uboot\] => md 0xf00000 8$",
            r"^\[uboot\] 00f00000: 38200200 7c200124 7c781b78 38000002",
            r"^\[uboot\] => poweroff$",
            r#"^hv: partition 0 "uboot": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 90,
        same_as_native: &[("ticker", "ticker")],
        input: &[
            (r"^\[uboot\] => $", "version\r"),
            (r"^\[uboot\] => $", "bdinfo\r"),
            (r"^\[uboot\] => $", "md 0xf00000 8\r"),
            (r"^\[uboot\] => $", "poweroff\r"),
        ],
    },
    Scenario {
        name: "booke/mpic",
        board: "qemu-ppce500",
        // An assigned device's interrupt (the I2C controller, MPIC source 43) through the
        // partition's emulated MPIC: IVOR4, IACK, EOI, five times.
        config: "tests/scenarios/ppce500-mpic.dtso",
        expect: &[
            r"^\[mpic\] mpic: i2c controller on source 43$",
            r"^\[mpic\] mpic: interrupt 5 from source 43$",
            r"^\[mpic\] mpic: done, source 43 ivpr 0x80000000$",
            r#"^hv: partition 0 "mpic": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("mpic", "mpic")],
        input: &[],
    },
    Scenario {
        name: "booke/mpic-attacker",
        board: "qemu-ppce500",
        // An attacker programs MPIC sources it does not own (its neighbour's among them);
        // the neighbour must print exactly what it prints alone.
        config: "tests/scenarios/ppce500-mpic-attacker.dtso",
        expect: &[
            r#"^hv: partition 0 "mpic-attacker": wrote MPIC state of source 43 it does not own; ignored$"#,
            r"^\[mpic-attacker\] mpic-attacker: source 43 reads ivpr 0x00000000 idr 0x00000000$",
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("mpic", "mpic")],
        input: &[],
    },
    Scenario {
        name: "first-light/bochs-x86_64",
        board: "bochs-x86_64",
        config: "guest-configs/x86-first-light.dtso",
        expect: &[
            r"^bulkhead \S+ on bochs-x86_64$",
            r"^hw: vmx: yes",
            r"^hw: vmcs revision: 0x[0-9a-f]+",
            r"^hw: ept: yes",
            r"^hw: preemption timer: yes",
            r"^hw: vmxon: ok$",
            r#"^partition 0 "\S+": cpus 1;"#,
            r"^first light: ok$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 120,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "x86/hello",
        board: "bochs-x86_64",
        // A Multiboot kernel as a VT-x partition: loaded from its staged ELF, started in
        // 32-bit protected mode, it turns on long mode itself and prints through the
        // emulated COM1; its lines must equal its native run on Bochs (GRUB booting it).
        config: "tests/scenarios/x86-hello.dtso",
        expect: &[
            r"^partitions: started 1$",
            r"^\[hello\] hello: started by a multiboot loader: yes$",
            r"^\[hello\] hello: long mode active: yes$",
            r#"^hv: partition 0 "hello": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("hello", "hello")],
        input: &[],
    },
    Scenario {
        name: "x86/ticker",
        board: "bochs-x86_64",
        // Timer interrupts: the guest's x2APIC timer in TSC-deadline mode is the virtual
        // APIC's; each deadline arms the VMX-preemption timer, whose exit injects the vector
        // into the halted guest. Lines equal to the native run.
        config: "tests/scenarios/x86-ticker.dtso",
        expect: &[
            r"^\[ticker\] tick 5$",
            r"^\[ticker\] ticker: 5 ticks, time advanced: true$",
            r#"^hv: partition 0 "ticker": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "demo/bochs-x86_64",
        board: "bochs-x86_64",
        // Two partitions side by side, one per CPU (the second started with INIT-SIPI-SIPI):
        // the hypercall ABI over VMCALL on CPU 0, timer interrupts on CPU 1.
        config: "guest-configs/x86-demo.dtso",
        expect: &[
            r"^partitions: started 2$",
            r"^\[hypercalls\] version: status 0 abi 1\.0$",
            r"^\[hypercalls\] info: status 0 id 0 vcpus 1 ram 0x1000000$",
            r"^\[hypercalls\] hello through CONSOLE_WRITE$",
            r"^\[hypercalls\] console_write outside own memory: status -3$",
            r"^\[hypercalls\] console_write wrapping: status -3$",
            r"^\[hypercalls\] console_write too long: status -2$",
            r"^\[hypercalls\] stats: status 0 hypercalls>=6 true$",
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "isolation/x86-stop",
        board: "bochs-x86_64",
        // The attacker reads its neighbour's RAM by host address: an EPT violation, policy
        // stop; the ticker on the other CPU prints exactly what it prints alone.
        config: "tests/scenarios/x86-attacker-stop.dtso",
        expect: &[
            r"^partitions: started 2$",
            r#"^hv: partition 0 "attacker": read outside its memory at 0x3000000; stopping it$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "isolation/x86-inject",
        board: "bochs-x86_64",
        // Every attack under policy inject, each reported by the attacker's own handler as
        // the exception the CPU raises without a hypervisor (#GP(0): 13; #UD: 6); the
        // hypervisor reports the first fault only; a 20,000-hypercall flood answered in full.
        config: "tests/scenarios/x86-attacker-inject.dtso",
        expect: &[
            r"^\[attacker\] attacker: reading 0x3000000$",
            r#"^hv: partition 0 "attacker": read outside its memory at 0x3000000; injected$"#,
            r"^\[attacker\] attacker: exception vector 13 error 0x0$",
            r"^\[attacker\] attacker: writing 0x3000000$",
            r"^\[attacker\] attacker: exception vector 13 error 0x0$",
            r"^\[attacker\] attacker: jumping to 0x3000000$",
            r"^\[attacker\] attacker: exception vector 13 error 0x0$",
            r"^\[attacker\] attacker: reading IA32_VMX_BASIC$",
            r"^\[attacker\] attacker: exception vector 13 error 0x0$",
            r"^\[attacker\] attacker: writing IA32_FEATURE_CONTROL$",
            r"^\[attacker\] attacker: exception vector 13 error 0x0$",
            r"^\[attacker\] attacker: setting CR4\.VMXE$",
            r"^\[attacker\] attacker: exception vector 13 error 0x0$",
            r"^\[attacker\] attacker: vmxon$",
            r"^\[attacker\] attacker: exception vector 6 error 0x0$",
            r"^\[attacker\] attacker: writing port 0x2f8$",
            r"^\[attacker\] attacker: exception vector 13 error 0x0$",
            r"^\[attacker\] attacker: writing port 0xcf8$",
            r"^\[attacker\] attacker: exception vector 13 error 0x0$",
            // Its 8259's IRQ 3 line is not its own: refused (not a fault), still masked.
            r#"^hv: partition 0 "attacker": unmasked 8259 line IRQ 3 it does not own; ignored$"#,
            r"^\[attacker\] attacker: 8259 masks read 0xff 0xff$",
            r"^\[attacker\] attacker: writing the I/O APIC at 0xfec00000$",
            r"^\[attacker\] attacker: exception vector 13 error 0x0$",
            r"^\[attacker\] attacker: 20000 answered$",
            r"^\[attacker\] attacker: hypercall 0xc6000042$",
            r"^\[attacker\] attacker: exception vector 6 error 0x0$",
            r"^\[attacker\] attacker: done$",
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 90,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "isolation/x86-restart",
        board: "bochs-x86_64",
        // Every attack under policy restart, each reported with its own cause (syndrome:
        // exit reason << 32 | qualification or MSR); the attacker resumes with the next
        // attack after each restart and finally powers off.
        config: "tests/scenarios/x86-attacker-restart.dtso",
        expect: &[
            r#"^hv: partition 0 "attacker": read outside its memory at 0x3000000; restarting it$"#,
            r#"^hv: partition 0 "attacker": restarting \(fault\)$"#,
            r#"^hv: partition 0 "attacker": write outside its memory at 0x3000000; restarting it$"#,
            r#"^hv: partition 0 "attacker": instruction fetch outside its memory at 0x3000000; restarting it$"#,
            // RDMSR (31) of IA32_VMX_BASIC, WRMSR (32) of IA32_FEATURE_CONTROL.
            r#"^hv: partition 0 "attacker": forbidden privileged operation \(syndrome 0x1f00000480\); restarting it$"#,
            r#"^hv: partition 0 "attacker": forbidden privileged operation \(syndrome 0x200000003a\); restarting it$"#,
            // MOV to CR4 (28) from RAX; VMXON (27); OUT (30) to 0x2f8, 1 byte, and 0xcf8, 4 bytes.
            r#"^hv: partition 0 "attacker": forbidden privileged operation \(syndrome 0x1c00000004\); restarting it$"#,
            r#"^hv: partition 0 "attacker": forbidden privileged operation \(syndrome 0x1b00000000\); restarting it$"#,
            r#"^hv: partition 0 "attacker": forbidden privileged operation \(syndrome 0x1e02f80000\); restarting it$"#,
            r#"^hv: partition 0 "attacker": forbidden privileged operation \(syndrome 0x1e0cf80003\); restarting it$"#,
            r#"^hv: partition 0 "attacker": unmasked 8259 line IRQ 3 it does not own; ignored$"#,
            r"^\[attacker\] attacker: 8259 masks read 0xff 0xff$",
            r#"^hv: partition 0 "attacker": write outside its memory at 0xfec00000; restarting it$"#,
            r"^\[attacker\] attacker: 20000 answered$",
            r#"^hv: partition 0 "attacker": undefined hypercall 0xc6000042; restarting it$"#,
            r"^\[attacker\] attacker: done$",
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 90,
        same_as_native: &[("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "x86/triple-fault-restart",
        board: "bochs-x86_64",
        // A triple fault exits (reason 2) and goes to the fault policy like any other
        // fault: here restart, after which the guest boots again and powers off.
        config: "tests/scenarios/x86-crash.dtso",
        expect: &[
            r"^\[crash\] crash: triple-faulting$",
            r#"^hv: partition 0 "crash": hardware error \(syndrome 0x2\); restarting it$"#,
            r#"^hv: partition 0 "crash": restarting \(fault\)$"#,
            r"^\[crash\] crash: boot 2, after a restart$",
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "passthrough/x86-uart-irq",
        board: "bochs-x86_64",
        // A passthrough device's interrupt: the partition on CPU 1 owns COM4 and its IRQ 3,
        // routed there by the hypervisor's I/O APIC; it programs its 8259 and the UART's
        // transmitter-empty interrupt and takes five, each at its own vector, with EOI,
        // exactly as natively. The ticker on CPU 0 beside it is undisturbed.
        config: "tests/scenarios/x86-uart-irq.dtso",
        expect: &[
            r"^partitions: started 2$",
            r"^\[uart-irq\] uart-irq: interrupt 5: iir 0x2, in service 0x8$",
            r#"^hv: partition 1 "uart-irq": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[("uart-irq", "uart-irq"), ("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "x86/smp",
        board: "bochs-x86_64",
        // A partition with two vCPUs on CPUs 1 and 2: vCPU 0 starts vCPU 1 with INIT and
        // STARTUP through its virtual ICR (real mode at 0x8000, then long mode), they
        // exchange fixed IPIs (each kicks the other's CPU out of its halted guest), and a
        // fixed IPI to x2APIC id 5 is refused. Lines equal to the guest's native run on
        // Bochs's three CPUs; the ticker on CPU 0 beside it undisturbed.
        config: "tests/scenarios/x86-smp.dtso",
        expect: &[
            r"^partitions: started 2$",
            r"^\[smp\] smp: cpu 0 boots, starting cpu 1 at 0x8000$",
            r"^\[smp\] smp: cpu 1 in long mode$",
            r"^\[smp\] smp: cpu 1 got ping 1$",
            r"^\[smp\] smp: cpu 0 got pong 1$",
            r"^\[smp\] smp: cpu 0 got pong 3$",
            r#"^hv: partition 1 "smp": sent an IPI to CPU 0x5 it does not have; ignored$"#,
            r"^\[smp\] smp: 3 rounds, ping to cpu 5: 3 pings arrived$",
            r#"^hv: partition 1 "smp": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 90,
        same_as_native: &[("smp", "smp"), ("ticker", "ticker")],
        input: &[],
    },
    Scenario {
        name: "x86/smp-restart",
        board: "bochs-x86_64",
        // Policy restart on a partition with two vCPUs (vCPU 0 on the boot CPU): vCPU 1's
        // forbidden port write stops both, the image is reloaded, vCPU 0 boots again and
        // vCPU 1 waits for a new STARTUP, after which its fixed IPI reaches vCPU 0; then
        // vCPU 0 faults with vCPU 1 running (kicked out of its busy guest): a third boot.
        config: "tests/scenarios/x86-smp-restart.dtso",
        expect: &[
            r"^\[smp-restart\] smp-restart: boot 1, starting cpu 1$",
            r"^\[smp-restart\] smp-restart: cpu 1 up, writing port 0xcf8$",
            r#"^hv: partition 0 "smp-restart": forbidden privileged operation \(syndrome 0x1e0cf80000\); restarting it$"#,
            r#"^hv: partition 0 "smp-restart": restarting \(fault\)$"#,
            r"^\[smp-restart\] smp-restart: boot 2, starting cpu 1$",
            r"^\[smp-restart\] smp-restart: cpu 1 pinged cpu 0 after the restart$",
            r"^\[smp-restart\] smp-restart: cpu 0 writing port 0xcf8, cpu 1 running$",
            r#"^hv: partition 0 "smp-restart": restarting \(fault\)$"#,
            r"^\[smp-restart\] smp-restart: boot 3, starting cpu 1$",
            r"^\[smp-restart\] smp-restart: cpu 1 pinged cpu 0 after the restart$",
            r#"^hv: partition 0 "smp-restart": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 90,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "x86/smp-stop",
        board: "bochs-x86_64",
        // Policy stop on a partition with two vCPUs: vCPU 1's forbidden port write stops
        // the partition; vCPU 0, halted in its guest, is kicked out and parks too.
        config: "tests/scenarios/x86-smp-stop.dtso",
        expect: &[
            r"^\[smp-restart\] smp-restart: cpu 1 up, writing port 0xcf8$",
            r#"^hv: partition 0 "smp-restart": forbidden privileged operation \(syndrome 0x1e0cf80000\); stopping it$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "x86/smp-inject",
        board: "bochs-x86_64",
        // Policy inject on a partition with two vCPUs: #GP(0) in vCPU 1 alone, at the
        // port write; its guest reports it and powers off, which stops vCPU 0 too.
        config: "tests/scenarios/x86-smp-inject.dtso",
        expect: &[
            r"^\[smp-restart\] smp-restart: cpu 1 up, writing port 0xcf8$",
            r#"^hv: partition 0 "smp-restart": forbidden privileged operation \(syndrome 0x1e0cf80000\); injected$"#,
            r"^\[smp-restart\] guest exception: vector 13 error 0x0 rip 0x[0-9a-f]+$",
            r#"^hv: partition 0 "smp-restart": powered off$"#,
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[],
        input: &[],
    },
    Scenario {
        name: "console-input/bochs-x86_64",
        board: "bochs-x86_64",
        // Two echo partitions, one per CPU: typed text (over Bochs's COM1, a socket here)
        // goes to the one with the input focus; Ctrl-A 1 moves the focus to partition 1.
        // Each must get exactly its own line, through its emulated COM1.
        config: "tests/scenarios/x86-console-input.dtso",
        expect: &[
            r"^\[left\] echo: got one$",
            r"^hv: console input to partition 1$",
            r"^\[right\] echo: got two$",
            r"^hv: all partitions stopped$",
        ],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[],
        input: &[(r"^\[left\] echo: ready$", "one\r"), (r"^\[left\] echo: got ", "\u{1}1two\r")],
    },
    Scenario {
        name: "first-light/qemu-x86_64-kvm",
        board: "qemu-x86_64-kvm",
        config: "guest-configs/x86-first-light.dtso",
        expect: &[r"^bulkhead \S+ on bochs-x86_64$", r"^hw: vmxon: ok$", r"^first light: ok$"],
        poweroff: true,
        host_check: true,
        timeout_s: 60,
        same_as_native: &[],
        input: &[],
    },
];

/// The demo configuration of each board.
pub fn demo_config(board: &str) -> Result<PathBuf> {
    let file = match board {
        "qemu-virt-aarch64" | "qemu-virt-aarch64-gicv2" => "guest-configs/aarch64-demo.dtso",
        "qemu-ppce500" => "guest-configs/ppce500-demo.dtso",
        "bochs-x86_64" | "qemu-x86_64-kvm" => "guest-configs/x86-demo.dtso",
        other => bail!("no demo for board {other}"),
    };
    Ok(workspace_root().join(file))
}

/// Lines partition `label` printed, without the `[label] ` prefix.
fn partition_lines(lines: &[String], label: &str) -> Vec<String> {
    let prefix = format!("[{label}] ");
    lines.iter().filter_map(|l| l.strip_prefix(&prefix)).map(str::to_string).collect()
}

/// Compares a partition's console with its guest's native run; the first difference.
fn compare_with_native(board: &boards::Board, lines: &[String], label: &str, guest: &str) -> Result<Option<String>> {
    let elf = crate::cross::build_guest(board, guest)?;
    let native = crate::machine::run_native(board, &elf, Duration::from_secs(30))?;
    let virt = partition_lines(lines, label);
    if native == virt {
        return Ok(None);
    }
    let at = native.iter().zip(&virt).position(|(a, b)| a != b).unwrap_or(native.len().min(virt.len()));
    Ok(Some(format!(
        "partition \"{label}\" differs from {guest} run natively at line {}: native {:?}, partition {:?} ({} vs {} lines)",
        at + 1,
        native.get(at),
        virt.get(at),
        native.len(),
        virt.len()
    )))
}

fn run_scenario(s: &Scenario) -> Result<console::Outcome> {
    let p = prepare(s.board, &workspace_root().join(s.config), s.host_check)?;
    let expect = console::Expect {
        patterns: s.expect.iter().map(|e| Regex::new(e)).collect::<Result<_, _>>()?,
        forbidden: FORBIDDEN.iter().map(|e| Regex::new(e)).collect::<Result<_, _>>()?,
        timeout: Duration::from_secs(s.timeout_s),
        poweroff: s.poweroff,
        input: s.input.iter().map(|(p, t)| Ok((Regex::new(p)?, t.to_string()))).collect::<Result<_, regex::Error>>()?,
    };
    let mut outcome = crate::boot_and_watch(&p, &crate::BootOptions::default(), &expect, console::Echo::Quiet)?;
    if outcome.passed {
        for (label, guest) in s.same_as_native {
            if let Some(diff) = compare_with_native(p.board, &outcome.lines, label, guest)? {
                outcome.passed = false;
                outcome.why = diff;
                break;
            }
        }
    }
    Ok(outcome)
}

/// Host unit and corpus tests with the cargo that runs this tool: the core, the ports'
/// pure modules, and the runner (configuration corpus). Boards and test guests are
/// bare-metal only.
fn host_tests() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["test", "--package", "hv", "--package", "armv8", "--package", "ppc-booke", "--package", "vtx", "--package", "qemu-runners"])
        .status()
        .context("running cargo test")?;
    if !status.success() {
        bail!("host tests failed");
    }
    Ok(())
}

pub fn test_all(only: Option<&str>) -> Result<()> {
    setup::ensure()?;
    let started = Instant::now();
    let mut passed = 0;
    let mut failed: Vec<String> = Vec::new();

    if only.is_none() {
        println!("== host tests (cargo test)");
        match host_tests() {
            Ok(()) => passed += 1,
            Err(e) => failed.push(format!("host tests: {e:#}")),
        }
    }

    println!("== boots");
    for s in SCENARIOS.iter().filter(|s| only.is_none_or(|o| s.name.contains(o))) {
        let board = boards::find(s.board)?;
        if !(board.available)() {
            println!("boot {:<44} skipped: {} is not available here", s.name, s.board);
            continue;
        }
        match run_scenario(s) {
            Ok(o) if o.passed => {
                println!("boot {:<44} ok ({:.1}s)", s.name, o.elapsed.as_secs_f64());
                passed += 1;
            }
            Ok(o) => {
                println!("boot {:<44} FAILED ({:.1}s)\n{}", s.name, o.elapsed.as_secs_f64(), o.report());
                failed.push(s.name.to_string());
            }
            Err(e) => {
                println!("boot {:<44} FAILED: {e:#}", s.name);
                failed.push(s.name.to_string());
            }
        }
    }

    println!("== done in {:.0}s", started.elapsed().as_secs_f64());
    for f in &failed {
        println!("failed: {f}");
    }
    println!("xtask: {passed} passed, {} failed", failed.len());
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("{} step(s) failed", failed.len())
    }
}

/// The benchmark scenario of each board: a guest printing `bench: <what>: <n> <unit>`.
fn bench_config(board: &str) -> Option<&'static str> {
    match board {
        "qemu-virt-aarch64" | "qemu-virt-aarch64-gicv2" => Some("tests/scenarios/aarch64-bench.dtso"),
        "qemu-ppce500" => Some("tests/scenarios/ppce500-bench.dtso"),
        "bochs-x86_64" => Some("tests/scenarios/x86-bench.dtso"),
        _ => None,
    }
}

/// Configurations whose boot the benchmark times (after the bench guest's own run): from
/// power-on to each partition's first guest instruction.
fn boot_bench_configs(board: &str) -> &'static [&'static str] {
    match board {
        "qemu-virt-aarch64" | "qemu-virt-aarch64-gicv2" => &["guest-configs/aarch64-demo.dtso", "tests/scenarios/aarch64-linux.dtso"],
        _ => &[],
    }
}

/// The idle-Linux measurement of each board: the configuration (its Linux partition boots,
/// sleeps 10 s, powers off), the layer that makes it sleep 0 s instead, the partition.
fn idle_bench(board: &str) -> Option<IdleBench> {
    match board {
        "qemu-virt-aarch64" | "qemu-virt-aarch64-gicv2" => Some(IdleBench {
            config: "tests/scenarios/aarch64-linux-idle.dtso",
            no_sleep: "tests/scenarios/aarch64-linux-idle-0s.dtso",
            partition: "linux",
            seconds: 10,
        }),
        _ => None,
    }
}

struct IdleBench {
    config: &'static str,
    no_sleep: &'static str,
    partition: &'static str,
    seconds: u32,
}

/// A partition's counts in the hypervisor's power-off report (`hv::run`: `partition I
/// "name": N exits (H hypercalls, M emulated accesses) before power-off`): (N, M).
fn exits_at_power_off(lines: &[String], partition: &str) -> Option<(u64, u64)> {
    let re = Regex::new(r#"^hv: partition \d+ "([^"]+)": (\d+) exits \(\d+ hypercalls, (\d+) emulated accesses\) before power-off$"#)
        .expect("valid");
    lines.iter().filter_map(|l| re.captures(l)).find(|c| &c[1] == partition).map(|c| (c[2].parse().unwrap_or(0), c[3].parse().unwrap_or(0)))
}

/// Boots the idle configuration twice under `-icount shift=0`, sleeping `seconds` and 0 s
/// (the same boot otherwise: deterministic), and prints the partition's exits in each and
/// their difference: the hypervisor entries during that many seconds of idle guest time.
fn print_idle(board: &boards::Board, idle: &IdleBench) -> Result<()> {
    let mut counts = Vec::new();
    for (layers, seconds) in [(&[idle.config][..], idle.seconds), (&[idle.config, idle.no_sleep][..], 0)] {
        let outcome = bench_run(board, layers)?;
        let slept = format!("] linux: slept {seconds:2} s");
        if !outcome.lines.iter().any(|l| l.ends_with(&slept)) {
            bail!("idle benchmark: no \"linux: slept {seconds:2} s\" line from {}", layers.join(" + "));
        }
        let Some(count) = exits_at_power_off(&outcome.lines, idle.partition) else {
            bail!("idle benchmark: no power-off report for partition \"{}\"", idle.partition);
        };
        counts.push((seconds, count));
    }
    let name = idle.config.rsplit('/').next().unwrap_or(idle.config);
    for &(seconds, (exits, mmio)) in &counts {
        println!(
            "| {} | exits of idle Linux, boot + {seconds} s asleep + power-off, {name} (of them emulated accesses) | {exits} ({mmio}) |",
            board.name
        );
    }
    let (with, without) = (counts[0].1 .0, counts[1].1 .0);
    println!(
        "| {} | hypervisor entries during {} s of guest time, idle Linux partition (difference of the two) | {} exits |",
        board.name,
        idle.seconds,
        with as i64 - without as i64
    );
    Ok(())
}

/// Boots `layers` (configuration overlays, in order) under `-icount shift=0` until every
/// partition has stopped.
fn bench_run(board: &boards::Board, layers: &[&str]) -> Result<console::Outcome> {
    let files: Vec<PathBuf> = layers.iter().map(|c| workspace_root().join(c)).collect();
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let p = crate::prepare_layers(board.name, &files, true)?;
    let config = layers.join(" + ");
    let expect = console::Expect {
        patterns: vec![Regex::new(r"^hv: all partitions stopped$")?],
        forbidden: FORBIDDEN.iter().map(|e| Regex::new(e)).collect::<Result<_, _>>()?,
        timeout: Duration::from_secs(300),
        poweroff: true,
        input: vec![],
    };
    let opts = crate::BootOptions { icount: true, ..Default::default() };
    let outcome = crate::boot_and_watch(&p, &opts, &expect, console::Echo::Quiet)?;
    if !outcome.passed {
        bail!("benchmark run of {config} failed:\n{}", outcome.report());
    }
    Ok(outcome)
}

/// The boot timeline the hypervisor logs (ARM: `partitions ready at counter N (F Hz)`, then
/// `partition I "name": first guest instruction at counter N (F Hz)` when it stops), as
/// (what, instructions): under `-icount shift=0` one nanosecond of the counter is one
/// instruction, of all CPUs together.
fn boot_timeline(log: &[String]) -> Vec<(String, u64)> {
    let ready = Regex::new(r"partitions ready at counter (\d+) \((\d+) Hz\)").expect("valid");
    let first = Regex::new(r#"partition \d+ "([^"]+)": first guest instruction at counter (\d+) \((\d+) Hz\)"#).expect("valid");
    let ns = |ticks: &str, hz: &str| -> u64 {
        let (t, f) = (ticks.parse::<u128>().unwrap_or(0), hz.parse::<u128>().unwrap_or(0).max(1));
        (t * 1_000_000_000 / f) as u64
    };
    let mut out = Vec::new();
    for line in log {
        if let Some(c) = ready.captures(line) {
            out.push(("every partition loaded".to_string(), ns(&c[1], &c[2])));
        } else if let Some(c) = first.captures(line) {
            out.push((format!("partition \"{}\" first guest instruction", &c[1]), ns(&c[2], &c[3])));
        }
    }
    out
}

fn print_timeline(board: &boards::Board, config: &str, log: &[String]) {
    let name = config.rsplit('/').next().unwrap_or(config);
    for (what, insns) in boot_timeline(log) {
        println!("| {} | power-on to {what}, {name} (instructions, all CPUs, -icount shift=0) | {insns} |", board.name);
    }
}

/// Benchmarks: guest-measured costs under `-icount shift=0` (deterministic instruction
/// counts), the boot timeline, then the image's size, with code by crate.
pub fn bench(board: &boards::Board) -> Result<()> {
    setup::ensure()?;
    println!("| board | metric | value |");
    println!("|---|---|---|");
    if let Some(config) = bench_config(board.name) {
        let outcome = bench_run(board, &[config])?;
        // Bochs has no -icount; its TSC counts instructions (the x86 bench guest checks).
        let counted = if matches!(board.machine, boards::Machine::Bochs { .. }) { "Bochs TSC" } else { "-icount shift=0" };
        for line in &outcome.lines {
            if let Some((_, m)) = line.split_once("bench: ") {
                if let Some((what, value)) = m.rsplit_once(": ") {
                    println!("| {} | {what} (guest + hypervisor, {counted}) | {value} |", board.name);
                }
            }
        }
        print_timeline(board, config, &outcome.log);
        for config in boot_bench_configs(board.name) {
            print_timeline(board, config, &bench_run(board, &[config])?.log);
        }
        if let Some(idle) = idle_bench(board.name) {
            print_idle(board, &idle)?;
        }
    }
    crate::code_size::report(board, &crate::cross::build(board)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_lines_strip_only_that_prefix() {
        let lines: Vec<String> =
            ["[a] one", "hv: partition 0 \"a\": powered off", "[b] other", "[a] two", "[ab] not a"].map(String::from).to_vec();
        assert_eq!(partition_lines(&lines, "a"), ["one", "two"]);
        assert_eq!(partition_lines(&lines, "b"), ["other"]);
        assert!(partition_lines(&lines, "c").is_empty());
    }

    #[test]
    fn the_boot_timeline_is_read_from_the_hypervisor_log() {
        let log: Vec<String> = [
            "INFO  partitions ready at counter 171425 (62500000 Hz)",
            "INFO  partition 0 \"ticker\": powered off",
            "INFO  partition 0 \"ticker\": first guest instruction at counter 172357 (62500000 Hz)",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            boot_timeline(&log),
            [("every partition loaded".to_string(), 2_742_800), ("partition \"ticker\" first guest instruction".to_string(), 2_757_712)]
        );
    }

    #[test]
    fn the_power_off_report_gives_a_partitions_exits() {
        let lines: Vec<String> = [
            "hv: partition 1 \"ticker\": 173 exits (0 hypercalls, 172 emulated accesses) before power-off",
            "[linux] linux: slept 10 s",
            "hv: partition 0 \"linux\": 2030 exits (0 hypercalls, 1760 emulated accesses) before power-off",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(exits_at_power_off(&lines, "linux"), Some((2030, 1760)));
        assert_eq!(exits_at_power_off(&lines, "ticker"), Some((173, 172)));
        assert_eq!(exits_at_power_off(&lines, "tick"), None, "the whole name");
        assert_eq!(exits_at_power_off(&lines[1..2], "linux"), None);
    }

    fn every_scenario_names_a_known_board_and_an_existing_config() {
        for s in SCENARIOS {
            assert!(boards::find(s.board).is_ok(), "{}: board {}", s.name, s.board);
            assert!(workspace_root().join(s.config).exists(), "{}: {}", s.name, s.config);
            for p in s.expect {
                Regex::new(p).unwrap_or_else(|e| panic!("{}: pattern {p}: {e}", s.name));
            }
        }
    }
}
