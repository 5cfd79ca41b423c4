//! The multiboot2 boot information GRUB hands the hypervisor: the configuration DTB
//! (the module whose command line is `config`) and the physical memory map.
//!
//! Parsing is pure and bounds-checked over a byte slice (host-tested below); only
//! [`Info::from_addr`] and [`Module::bytes`] turn physical addresses into slices.
//! Layout: the Multiboot2 Specification, section 3.6 "Boot information format".

/// What the loader leaves in EAX (the entry code passes 0 instead of the info address
/// when EAX held anything else).
pub const BOOTLOADER_MAGIC: u32 = 0x36d7_6289;

const TAG_END: u32 = 0;
const TAG_MODULE: u32 = 3;
const TAG_MEMORY_MAP: u32 = 6;
/// Fixed part of the info: total_size, reserved.
const INFO_HEADER: usize = 8;
/// Fixed part of every tag: type, size.
const TAG_HEADER: usize = 8;
/// Module tag: mod_start, mod_end (32-bit physical addresses), then the command line.
const MODULE_FIXED: usize = TAG_HEADER + 8;
/// Memory-map tag: entry_size, entry_version, then the entries.
const MMAP_FIXED: usize = TAG_HEADER + 8;
/// Smallest memory-map entry: base_addr (u64), length (u64), type (u32), reserved (u32).
const MMAP_ENTRY_MIN: usize = 24;
/// Memory-map entry type for RAM the OS may use.
const MEMORY_AVAILABLE: u32 = 1;
/// Largest info structure believed: GRUB's is a few KiB.
const INFO_MAX: usize = 64 * 1024;

/// Why the boot information cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The hypervisor was not started by a multiboot2 loader (wrong magic in EAX).
    NotMultiboot2,
    /// The info structure's size is impossible.
    BadSize(u32),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::NotMultiboot2 => f.write_str("not started by a multiboot2 loader"),
            Error::BadSize(n) => write!(f, "multiboot2 info of impossible size {n}"),
        }
    }
}

/// The boot information: a sequence of 8-byte aligned tags.
#[derive(Clone, Copy, Debug)]
pub struct Info<'a> {
    bytes: &'a [u8],
}

/// A boot module: where the loader put a file, and its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Module<'a> {
    pub start: u32,
    pub end: u32,
    pub cmdline: &'a [u8],
}

/// One memory-map entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub length: u64,
    /// 1 available, 3 ACPI reclaimable, 4 NVS, 5 bad; anything else reserved.
    pub kind: u32,
}

impl Region {
    pub fn available(&self) -> bool {
        self.kind == MEMORY_AVAILABLE
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u32_at(bytes, at)?) | (u64::from(u32_at(bytes, at + 4)?) << 32))
}

impl Info<'static> {
    /// The info structure at physical address `addr` (0 when the entry code saw no
    /// multiboot2 magic).
    ///
    /// # Safety
    /// `addr` is 0 or the address a multiboot2 loader passed, identity-mapped, and
    /// nothing writes the structure while the hypervisor uses it.
    pub unsafe fn from_addr(addr: usize) -> Result<Info<'static>, Error> {
        if addr == 0 {
            return Err(Error::NotMultiboot2);
        }
        // SAFETY: the caller vouches for `addr`; total_size is the structure's first word.
        let total = unsafe { (addr as *const u32).read() };
        let len = total as usize;
        if !(INFO_HEADER..=INFO_MAX).contains(&len) {
            return Err(Error::BadSize(total));
        }
        // SAFETY: the loader wrote `len` bytes at `addr` (checked plausible just above).
        Ok(Info { bytes: unsafe { core::slice::from_raw_parts(addr as *const u8, len) } })
    }
}

impl<'a> Info<'a> {
    /// The info structure in `bytes` (which starts with total_size).
    pub fn parse(bytes: &'a [u8]) -> Result<Info<'a>, Error> {
        let total = u32_at(bytes, 0).ok_or(Error::BadSize(0))?;
        let len = total as usize;
        if len < INFO_HEADER || len > bytes.len() {
            return Err(Error::BadSize(total));
        }
        Ok(Info { bytes: &bytes[..len] })
    }

    /// Size of the structure in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Every tag before the end tag, as (type, body including the tag header). A
    /// truncated or malformed tag ends the walk.
    fn tags(&self) -> impl Iterator<Item = (u32, &'a [u8])> + 'a {
        let bytes = self.bytes;
        let mut at = INFO_HEADER;
        core::iter::from_fn(move || {
            let kind = u32_at(bytes, at)?;
            let size = u32_at(bytes, at + 4)? as usize;
            if kind == TAG_END || size < TAG_HEADER {
                return None;
            }
            let tag = bytes.get(at..at.checked_add(size)?)?;
            at = at.checked_add(size.checked_add(7)? & !7)?;
            Some((kind, tag))
        })
    }

    /// Every boot module.
    pub fn modules(&self) -> impl Iterator<Item = Module<'a>> + 'a {
        self.tags().filter(|(kind, _)| *kind == TAG_MODULE).filter_map(|(_, tag)| {
            let cmdline = tag.get(MODULE_FIXED..)?;
            let cmdline = &cmdline[..cmdline.iter().position(|&b| b == 0).unwrap_or(cmdline.len())];
            Some(Module { start: u32_at(tag, TAG_HEADER)?, end: u32_at(tag, TAG_HEADER + 4)?, cmdline })
        })
    }

    /// The module whose command line is exactly `cmdline`.
    pub fn module(&self, cmdline: &str) -> Option<Module<'a>> {
        self.modules().find(|m| m.cmdline == cmdline.as_bytes())
    }

    /// The BIOS memory map (empty if the loader gave none).
    pub fn memory_map(&self) -> impl Iterator<Item = Region> + 'a {
        let tag = self.tags().find(|(kind, _)| *kind == TAG_MEMORY_MAP).map(|(_, t)| t).unwrap_or(&[]);
        let entry_size = u32_at(tag, TAG_HEADER).unwrap_or(0) as usize;
        let entries = tag.get(MMAP_FIXED..).unwrap_or(&[]);
        let step = if entry_size < MMAP_ENTRY_MIN { 0 } else { entry_size };
        let count = if step == 0 { 0 } else { entries.len() / step };
        (0..count).filter_map(move |i| {
            let at = i * step;
            Some(Region { base: u64_at(entries, at)?, length: u64_at(entries, at + 8)?, kind: u32_at(entries, at + 16)? })
        })
    }
}

/// The staging address a module's command line names (`stage 0x<hex>`): where the board
/// copies the guest image it holds.
pub fn stage_address(cmdline: &[u8]) -> Option<u64> {
    let hex = cmdline.strip_prefix(b"stage 0x").filter(|h| (1..=16).contains(&h.len()))?;
    hex.iter().try_fold(0, |n, &c| Some(n << 4 | u64::from(char::from(c).to_digit(16)?)))
}

impl Module<'_> {
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The module's contents.
    ///
    /// # Safety
    /// The module comes from the loader's info, its memory is identity-mapped, and nothing
    /// overwrites it while the slice lives (the hypervisor never allocates over modules).
    pub unsafe fn bytes(&self) -> &'static [u8] {
        // SAFETY: forwarded to the caller; `len` is 0 for an inverted range.
        unsafe { core::slice::from_raw_parts(self.start as usize as *const u8, self.len()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&((TAG_HEADER + body.len()) as u32).to_le_bytes());
        t.extend_from_slice(body);
        while t.len() % 8 != 0 {
            t.push(0);
        }
        t
    }

    fn info(tags: &[Vec<u8>]) -> Vec<u8> {
        let mut v = vec![0u8; 8];
        for t in tags {
            v.extend_from_slice(t);
        }
        v.extend_from_slice(&tag(TAG_END, &[]));
        let n = v.len() as u32;
        v[..4].copy_from_slice(&n.to_le_bytes());
        v
    }

    fn module(start: u32, end: u32, cmdline: &str) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&start.to_le_bytes());
        b.extend_from_slice(&end.to_le_bytes());
        b.extend_from_slice(cmdline.as_bytes());
        b.push(0);
        tag(TAG_MODULE, &b)
    }

    #[test]
    fn finds_the_config_module_by_cmdline() {
        let bytes = info(&[tag(1, b"x\0"), module(0x10_0000, 0x10_0100, "other"), module(0x20_0000, 0x20_0800, "config")]);
        let info = Info::parse(&bytes).unwrap();
        let m = info.module("config").unwrap();
        assert_eq!((m.start, m.len()), (0x20_0000, 0x800));
        assert!(info.module("conf").is_none());
    }

    #[test]
    fn reads_the_memory_map() {
        let mut body = Vec::new();
        body.extend_from_slice(&24u32.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        for (base, len, kind) in [(0u64, 0x9fc00u64, 1u32), (0x10_0000, 0x1fef_0000, 1), (0xfffc_0000, 0x4_0000, 2)] {
            body.extend_from_slice(&base.to_le_bytes());
            body.extend_from_slice(&len.to_le_bytes());
            body.extend_from_slice(&kind.to_le_bytes());
            body.extend_from_slice(&0u32.to_le_bytes());
        }
        let bytes = info(&[tag(TAG_MEMORY_MAP, &body)]);
        let regions: Vec<_> = Info::parse(&bytes).unwrap().memory_map().collect();
        assert_eq!(regions.len(), 3);
        assert_eq!(regions[1], Region { base: 0x10_0000, length: 0x1fef_0000, kind: 1 });
        assert!(!regions[2].available());
    }

    #[test]
    fn staging_addresses_come_from_the_command_line() {
        assert_eq!(stage_address(b"stage 0x18000000"), Some(0x1800_0000));
        assert_eq!(stage_address(b"stage 18000000"), None);
        assert_eq!(stage_address(b"config"), None);
        assert_eq!(stage_address(b"stage 0xzz"), None);
        assert_eq!(stage_address(b"stage 0x"), None);
        assert_eq!(stage_address(b"stage 0xFfffffffffffffff"), Some(u64::MAX));
        assert_eq!(stage_address(b"stage 0x10000000000000000"), None, "more than 64 bits");
    }

    #[test]
    fn truncated_or_malformed_input_is_not_trusted() {
        let mut bytes = info(&[module(1, 2, "config")]);
        assert!(Info::parse(&bytes[..6]).is_err());
        // A tag claiming to run past the end of the structure ends the walk.
        bytes[12..16].copy_from_slice(&4096u32.to_le_bytes());
        assert!(Info::parse(&bytes).unwrap().module("config").is_none());
        // total_size larger than the buffer.
        let mut short = info(&[]);
        short[..4].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(Info::parse(&short).unwrap_err(), Error::BadSize(100));
        // An inverted module range is empty, not huge.
        assert_eq!(Module { start: 10, end: 5, cmdline: b"" }.len(), 0);
    }
}
