//! The boards the runner knows: how each is built and which machine boots it, as data.
//!
//! A board here is a (hypervisor image, board device tree, emulated machine) triple.
//! Variants of one hardware port (GICv2 instead of GICv3, KVM instead of Bochs) share the
//! image and differ in tree and machine.

/// How a board's hypervisor image is cross-built.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// A target rustc knows by name.
    Builtin(&'static str),
    /// A JSON target spec checked into the repository (path from the workspace root).
    Json(&'static str),
}

impl Target {
    /// The directory name cargo uses under `target/<dir>/`.
    pub fn dir_name(&self) -> &'static str {
        match self {
            Target::Builtin(t) => t,
            Target::Json(p) => {
                let file = p.rsplit('/').next().unwrap_or(p);
                file.strip_suffix(".json").unwrap_or(file)
            }
        }
    }
}

/// Which emulator boots the board, and how.
#[derive(Clone, Copy, Debug)]
pub enum Machine {
    /// QEMU with `-kernel <elf> -dtb <dtb>`; the defmt log channel is given by `log_args`.
    Qemu {
        binary: &'static str,
        args: &'static [&'static str],
        /// Arguments routing the defmt channel to `{log}`.
        log_args: &'static [&'static str],
    },
    /// QEMU booting the x86 GRUB ISO (`-cdrom`), with KVM.
    QemuIso {
        binary: &'static str,
        args: &'static [&'static str],
        log_args: &'static [&'static str],
    },
    /// Bochs booting the x86 GRUB ISO; serial and log go to files.
    Bochs { rc_template: &'static str },
}

#[derive(Clone, Copy, Debug)]
pub struct Board {
    pub name: &'static str,
    /// Cargo package holding the hypervisor binary.
    pub package: &'static str,
    /// Binary name inside the package.
    pub bin: &'static str,
    pub target: Target,
    /// Board device tree (with the board's `/hypervisor` facts), from the workspace root.
    pub dts: &'static str,
    pub machine: Machine,
    /// Only usable when this returns true (e.g. KVM with nested VMX present).
    pub available: fn() -> bool,
    /// One line for `--help` and docs.
    pub about: &'static str,
    /// Cargo package of this architecture's test guests (`guest:<name>` images).
    pub guests: Option<&'static str>,
    /// Host-physical RAM where the runner stages guest images for the hypervisor to copy
    /// from (at boot and on restart); the board tree keeps partitions out of it.
    pub staging: Option<(u64, u64)>,
    /// The same machine without the hypervisor, for running a test guest natively
    /// (equivalence tests): emulator and arguments, `-kernel <guest>` appended.
    pub native: Option<(&'static str, &'static [&'static str])>,
}

/// The x86 boards' staging area (boards/bochs-x86_64/src/main.rs, STAGING).
const X86_STAGING: (u64, u64) = (0x1800_0000, 0x0400_0000);

/// Plain virt (GICv2, PSCI over HVC for EL1) with the hypervisor boards' four CPUs, which
/// start powered off but for CPU 0 (the SMP guest starts them with CPU_ON).
const AARCH64_NATIVE: (&str, &[&str]) =
    ("qemu-system-aarch64", &["-M", "virt", "-cpu", "cortex-a53", "-smp", "4", "-m", "1G"]);

fn always() -> bool {
    true
}

/// True when /dev/kvm exists and the host's KVM offers nested VMX.
pub fn kvm_nested_vmx() -> bool {
    let nested = std::fs::read_to_string("/sys/module/kvm_intel/parameters/nested")
        .map(|s| matches!(s.trim(), "Y" | "y" | "1"))
        .unwrap_or(false);
    nested && std::path::Path::new("/dev/kvm").exists()
}

const AARCH64_LOG: &[&str] = &[
    "-semihosting-config",
    "enable=on,target=native,chardev=hvlog",
    "-chardev",
    "file,id=hvlog,path={log}",
];

pub const BOARDS: &[Board] = &[
    Board {
        name: "qemu-virt-aarch64",
        package: "board-qemu-virt-aarch64",
        bin: "bulkhead-qemu-virt-aarch64",
        target: Target::Builtin("aarch64-unknown-none-softfloat"),
        dts: "boards/qemu-virt-aarch64/board.dts",
        machine: Machine::Qemu {
            binary: "qemu-system-aarch64",
            args: &[
                "-M", "virt,virtualization=on,gic-version=3", "-cpu", "cortex-a53",
                "-smp", "4", "-m", "1G",
            ],
            log_args: AARCH64_LOG,
        },
        available: always,
        about: "QEMU virt, Cortex-A53 x4, GICv3, hypervisor at EL2",
        guests: Some("guests-aarch64"),
        staging: Some((0x7000_0000, 0x1000_0000)),
        native: Some(AARCH64_NATIVE),
    },
    Board {
        name: "qemu-virt-aarch64-gicv2",
        package: "board-qemu-virt-aarch64",
        bin: "bulkhead-qemu-virt-aarch64",
        target: Target::Builtin("aarch64-unknown-none-softfloat"),
        dts: "boards/qemu-virt-aarch64/board-gicv2.dts",
        machine: Machine::Qemu {
            binary: "qemu-system-aarch64",
            args: &[
                "-M", "virt,virtualization=on,gic-version=2", "-cpu", "cortex-a53",
                "-smp", "4", "-m", "1G",
            ],
            log_args: AARCH64_LOG,
        },
        available: always,
        about: "QEMU virt, Cortex-A53 x4, GICv2 (GICH/GICV), hypervisor at EL2",
        guests: Some("guests-aarch64"),
        staging: Some((0x7000_0000, 0x1000_0000)),
        native: Some(AARCH64_NATIVE),
    },
    Board {
        name: "qemu-ppce500",
        package: "board-qemu-ppce500",
        bin: "bulkhead-qemu-ppce500",
        target: Target::Json("targets/powerpc-e500-none.json"),
        dts: "boards/qemu-ppce500/board.dts",
        machine: Machine::Qemu {
            binary: "qemu-system-ppc",
            args: &["-M", "ppce500", "-cpu", "e500v2", "-smp", "2", "-m", "512M"],
            log_args: &["-serial", "file:{log}"],
        },
        available: always,
        about: "QEMU ppce500, e500v2 x2 (no E.HV): trap-and-emulate",
        guests: Some("guests-ppc"),
        staging: Some((0x1800_0000, 0x0800_0000)),
        native: Some(("qemu-system-ppc", &["-M", "ppce500", "-cpu", "e500v2", "-m", "512M"])),
    },
    Board {
        name: "bochs-x86_64",
        package: "board-bochs-x86_64",
        bin: "bulkhead-bochs-x86_64",
        target: Target::Builtin("x86_64-unknown-none"),
        dts: "boards/bochs-x86_64/board.dts",
        machine: Machine::Bochs { rc_template: "boards/bochs-x86_64/bochsrc.in" },
        available: always,
        about: "Bochs 2.7, Skylake-X model with VMX + EPT, booted by GRUB (multiboot2)",
        guests: Some("guests-x86"),
        staging: Some(X86_STAGING),
        // Bochs itself, GRUB booting the guest as a Multiboot kernel (machine::run_native).
        native: Some(("bochs", &[])),
    },
    Board {
        name: "qemu-x86_64-kvm",
        package: "board-bochs-x86_64",
        bin: "bulkhead-bochs-x86_64",
        target: Target::Builtin("x86_64-unknown-none"),
        dts: "boards/bochs-x86_64/board.dts",
        machine: Machine::QemuIso {
            binary: "qemu-system-x86_64",
            args: &[
                "-enable-kvm", "-cpu", "host,+vmx", "-smp", "2", "-m", "512M",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            ],
            log_args: &["-serial", "file:{log}"],
        },
        available: kvm_nested_vmx,
        about: "QEMU with KVM and nested VMX (used only where /dev/kvm offers it)",
        guests: Some("guests-x86"),
        staging: Some(X86_STAGING),
        native: None,
    },
];

pub fn find(name: &str) -> anyhow::Result<&'static Board> {
    BOARDS.iter().find(|b| b.name == name).ok_or_else(|| {
        let names: Vec<_> = BOARDS.iter().map(|b| b.name).collect();
        anyhow::anyhow!("unknown board `{name}`; known boards: {}", names.join(", "))
    })
}
