//! First light: what every board prints when the hypervisor comes up, before any
//! partition runs. The text is the same on every port so that one set of runner
//! patterns checks all three.

use core::fmt::{self, Display, Write};

use spin::{Mutex, Once};

use crate::config::{compact, Config, ConfigError, Console, ErrorKind, FaultPolicy};

/// Largest device tree the hypervisor keeps a copy of.
pub const DTB_MAX: usize = 128 * 1024;

/// Where a board keeps its validated configuration: a private, NOP-free copy of the boot
/// loader's device tree and the [`Config`] parsed from it, both static (a `Config` is too
/// large for a boot stack). Declare one per board:
/// `static CONFIG: hv::boot::ConfigStore = hv::boot::ConfigStore::new();`
pub struct ConfigStore {
    dtb: Mutex<[u8; DTB_MAX]>,
    config: Mutex<Config>,
    loaded: Once<Result<(&'static Config, &'static [u8]), ConfigError>>,
}

impl Default for ConfigStore {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigStore {
    pub const fn new() -> Self {
        ConfigStore { dtb: Mutex::new([0; DTB_MAX]), config: Mutex::new(Config::new()), loaded: Once::new() }
    }

    /// Copies `dtb` (from the boot loader) and parses it; later calls return the first
    /// result. The copy is what the hypervisor keeps: the original may lie in memory a
    /// partition will own.
    ///
    /// Out of line: each board calls it once, and LTO would otherwise copy the whole
    /// parser and checker into the board's `main` (counted as port code there).
    #[inline(never)]
    pub fn load(&'static self, dtb: &[u8]) -> Result<(&'static Config, &'static [u8]), ConfigError> {
        self.loaded
            .call_once(|| {
                // Both guards are leaked: the store is written here, once, and only read after.
                let copy = spin::MutexGuard::leak(self.dtb.lock());
                let len = compact::without_nops(dtb, copy)
                    .map_err(|why| ConfigError::new("/", "", ErrorKind::BadBlob(why)))?;
                let copy: &'static [u8] = &copy[..len];
                let cfg = spin::MutexGuard::leak(self.config.lock());
                let mut first = None;
                crate::config::parse_into(copy, cfg, &mut |e| {
                    first.get_or_insert_with(|| e.clone());
                });
                match first {
                    None => Ok((&*cfg, copy)),
                    Some(e) => Err(e),
                }
            })
            .clone()
    }

    /// The configuration, once [`ConfigStore::load`] succeeded.
    pub fn get(&self) -> Option<&'static Config> {
        match self.loaded.get() {
            Some(Ok((cfg, _))) => Some(cfg),
            _ => None,
        }
    }
}

/// `bulkhead <version> on <board>`.
pub fn banner(out: &mut dyn Write, board: &str) -> fmt::Result {
    writeln!(out, "bulkhead {} on {}", crate::VERSION, board)
}

/// The virtualization hardware the port found, one `hw: ...` line per fact.
pub fn hardware(out: &mut dyn Write, facts: &[(&str, &dyn Display)]) -> fmt::Result {
    for (what, value) in facts {
        writeln!(out, "hw: {what}: {value}")?;
    }
    Ok(())
}

/// The partition table built from the configuration. (Out of line, as
/// [`ConfigStore::load`].)
#[inline(never)]
pub fn partition_table(out: &mut dyn Write, cfg: &Config) -> fmt::Result {
    writeln!(
        out,
        "hypervisor: {:#x}..{:#x}, {} partition(s)",
        cfg.hypervisor.base,
        cfg.hypervisor.base + cfg.hypervisor.size,
        cfg.partitions.len()
    )?;
    for p in &cfg.partitions {
        write!(out, "partition {} \"{}\": cpus", p.id, p.name)?;
        for c in &p.cpus {
            write!(out, " {c}")?;
        }
        let policy = match p.fault_policy {
            FaultPolicy::Inject => "inject",
            FaultPolicy::Stop => "stop",
            FaultPolicy::Restart => "restart",
        };
        let console = match p.console {
            Console::None => "none",
            Console::Emulated => "emulated",
        };
        writeln!(out, "; console {console}; on fault {policy}")?;
        for m in &p.memory {
            writeln!(
                out,
                "  memory {:#x}..{:#x} at guest {:#x}",
                m.host.base,
                m.host.base + m.host.size,
                m.guest_base
            )?;
        }
        for d in &p.devices {
            write!(out, "  device {}", d.path)?;
            for r in &d.mmio {
                write!(out, " mmio {:#x}+{:#x}", r.base, r.size)?;
            }
            for i in &d.irqs {
                write!(out, " irq {i}")?;
            }
            writeln!(out)?;
        }
    }
    for s in &cfg.shared {
        write!(out, "shared \"{}\" {:#x}+{:#x}: partitions", s.name, s.host.base, s.host.size)?;
        for id in &s.partitions {
            write!(out, " {id}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_reports_a_bad_blob_and_keeps_the_first_result() {
        let store: &'static ConfigStore = Box::leak(Box::new(ConfigStore::new()));
        let err = store.load(b"definitely not a device tree").unwrap_err();
        assert!(matches!(err.kind, ErrorKind::BadBlob(_)), "{err}");
        assert_eq!(store.load(&[]).unwrap_err(), err, "later calls return the first result");
        assert!(store.get().is_none());
    }
}
