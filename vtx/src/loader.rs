//! Putting a partition's boot image into its RAM, at boot and on every restart, and playing
//! the Multiboot boot loader's part: the boot information the guest finds in EBX.
//!
//! The image is where the boot loader staged it (the image node's `reg`, host-physical,
//! checked by the configuration to lie in RAM outside every partition); its layout comes
//! from `hv::image` (ELF at its physical addresses, or raw at `bulkhead,load-address`), and
//! every segment is placed through the partition's memory map ([`hv::image::place`]): nothing
//! is written outside the partition's own RAM whatever the image's headers claim.
//!
//! Then the Multiboot (version 1) information structure: the memory fields and a memory
//! map listing the partition's RAM regions (guest-physical), and the command line
//! (`bulkhead,bootargs`) if there is one; in the highest 4 KiB page of the partition's
//! first RAM region that no image segment uses. The guest starts as a Multiboot kernel
//! ([`crate::vcpu`]: 32-bit protected mode, paging off, EAX = 0x2BADB002, EBX = that
//! address).

use hv::config::{Image, ImageFormat, Partition};
use hv::image::{self, ImageError, Segment};
use hv::memmap::{Kind, MemoryMap};

/// What a Multiboot loader leaves in EAX.
pub const MULTIBOOT_MAGIC: u32 = 0x2bad_b002;
/// Bytes reserved for the boot information.
pub const INFO_SIZE: u64 = 4096;

// Multiboot information (Multiboot Specification 0.6.96, 3.3): flags, then fields.
const FLAG_MEMORY: u32 = 1 << 0;
const FLAG_CMDLINE: u32 = 1 << 2;
const FLAG_MMAP: u32 = 1 << 6;
const OFF_MEM_LOWER: usize = 4;
const OFF_MEM_UPPER: usize = 8;
const OFF_CMDLINE: usize = 16;
const OFF_MMAP_LENGTH: usize = 44;
const OFF_MMAP_ADDR: usize = 48;
/// The fixed part of the structure (up to the VBE/framebuffer fields, left zero).
const INFO_FIXED: usize = 120;
/// One memory-map entry: size (20, not counting itself), base, length, type 1 (RAM).
const MMAP_ENTRY: usize = 24;
const MMAP_ENTRY_SIZE_FIELD: u32 = 20;
const MEMORY_AVAILABLE: u32 = 1;
/// Conventional memory ends at 640 KiB; upper memory starts at 1 MiB.
const LOWER_LIMIT: u64 = 640 << 10;
const UPPER_START: u64 = 1 << 20;

/// Where the guest starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Boot {
    /// Guest-physical entry point.
    pub entry: u64,
    /// Guest-physical address of the Multiboot information (EBX at entry).
    pub info: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    NoImage,
    /// The image node has no `reg`: nobody staged the file.
    NotStaged,
    Image(ImageError),
    /// An initramfs was configured: x86 partitions take none yet.
    Initramfs,
    /// No free page for the boot information beside the image.
    NoRoomForInfo,
    /// An arm64 `Image`: not an x86 kernel.
    Arm64Image,
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::NoImage => f.write_str("no image"),
            LoadError::NotStaged => f.write_str("image not staged (no reg in its image node)"),
            LoadError::Image(e) => e.fmt(f),
            LoadError::Initramfs => f.write_str("x86 partitions take no initramfs"),
            LoadError::NoRoomForInfo => f.write_str("no room for the boot information beside the image"),
            LoadError::Arm64Image => f.write_str("an arm64 Image is not an x86 kernel"),
        }
    }
}

/// Loads partition `p` (memory map `map`) into its RAM.
pub fn load(p: &Partition, map: &MemoryMap) -> Result<Boot, LoadError> {
    let img = p.image.as_ref().ok_or(LoadError::NoImage)?;
    if p.initramfs.is_some() {
        return Err(LoadError::Initramfs);
    }
    let layout = place(img, map)?;
    let info = info_address(map, &layout.segments).ok_or(LoadError::NoRoomForInfo)?;
    let host = map.translate(info, INFO_SIZE).map_err(|_| LoadError::NoRoomForInfo)?;
    // SAFETY: [host, host + INFO_SIZE) is this partition's RAM (translate checked it),
    // identity-mapped; its guest is not running while it is loaded.
    let buf = unsafe { core::slice::from_raw_parts_mut(host as *mut u8, INFO_SIZE as usize) };
    write_info(buf, info, map, p.bootargs.as_deref().unwrap_or(""));
    Ok(Boot { entry: img.entry.unwrap_or(layout.entry), info })
}

/// Copies the image from where it was staged to where its layout puts it, zero-filling
/// the rest of each segment. Returns the layout.
fn place(img: &Image, map: &MemoryMap) -> Result<image::Layout, LoadError> {
    let staged = img.staged.ok_or(LoadError::NotStaged)?;
    // SAFETY: the configuration checks put the staged range inside RAM (identity-mapped)
    // and outside the hypervisor and every partition, so no guest can change it; nothing
    // writes it after the boot loader did.
    let bytes = unsafe { core::slice::from_raw_parts(staged.base as *const u8, staged.size as usize) };
    // Not an arm64 Image (nor its layout code, then: the compiler leaves it out).
    let format = match img.format {
        ImageFormat::Arm64Image => return Err(LoadError::Arm64Image),
        f => f,
    };
    let layout = image::layout(format, bytes, img.load_address).map_err(LoadError::Image)?;
    for pl in image::place(&layout, map).map_err(LoadError::Image)? {
        let s = pl.segment;
        // layout() checked offset + file_size against the file and file_size <= mem_size.
        let src = &bytes[s.offset as usize..(s.offset + s.file_size) as usize];
        // SAFETY: place() proved [host, host + mem_size) lies in one RAM region of this
        // partition (identity-mapped); its guest is not running while it is loaded.
        let dst = unsafe { core::slice::from_raw_parts_mut(pl.host as *mut u8, s.mem_size as usize) };
        dst[..src.len()].copy_from_slice(src);
        dst[src.len()..].fill(0);
    }
    Ok(layout)
}

/// The highest page of the first RAM region that no segment overlaps (never page 0, which
/// a guest would take for a null pointer).
pub fn info_address(map: &MemoryMap, segments: &[Segment]) -> Option<u64> {
    let ram = map.boot_ram()?;
    let pages = ram.size / INFO_SIZE;
    (0..pages).rev().map(|i| ram.guest + i * INFO_SIZE).filter(|&a| a != 0).find(|&a| {
        segments.iter().all(|s| s.guest.saturating_add(s.mem_size) <= a || s.guest >= a + INFO_SIZE)
    })
}

/// Writes the Multiboot information for a guest whose RAM is `map`'s, at guest address
/// `at` (the start of `buf`), with command line `cmdline` (truncated to what fits).
pub fn write_info(buf: &mut [u8], at: u64, map: &MemoryMap, cmdline: &str) {
    buf.fill(0);
    let put = |buf: &mut [u8], off: usize, v: u32| buf[off..off + 4].copy_from_slice(&v.to_le_bytes());
    let ram = || map.mappings().iter().filter(|m| m.kind == Kind::Ram);
    // Conventional memory: RAM from 0, up to 640 KiB; upper: RAM contiguous from 1 MiB.
    let lower = ram().find(|m| m.guest == 0).map_or(0, |m| m.size.min(LOWER_LIMIT));
    let upper = ram().find(|m| m.guest <= UPPER_START && UPPER_START < m.guest + m.size).map_or(0, |m| m.guest + m.size - UPPER_START);
    put(buf, OFF_MEM_LOWER, (lower >> 10) as u32);
    put(buf, OFF_MEM_UPPER, (upper >> 10).min(u64::from(u32::MAX)) as u32);
    let mut flags = FLAG_MEMORY | FLAG_MMAP;
    let mut off = INFO_FIXED;
    for m in ram() {
        if off + MMAP_ENTRY > buf.len() {
            break;
        }
        put(buf, off, MMAP_ENTRY_SIZE_FIELD);
        buf[off + 4..off + 12].copy_from_slice(&m.guest.to_le_bytes());
        buf[off + 12..off + 20].copy_from_slice(&m.size.to_le_bytes());
        put(buf, off + 20, MEMORY_AVAILABLE);
        off += MMAP_ENTRY;
    }
    put(buf, OFF_MMAP_LENGTH, (off - INFO_FIXED) as u32);
    put(buf, OFF_MMAP_ADDR, (at + INFO_FIXED as u64) as u32);
    if !cmdline.is_empty() {
        let n = cmdline.len().min(buf.len() - off - 1);
        buf[off..off + n].copy_from_slice(&cmdline.as_bytes()[..n]);
        put(buf, OFF_CMDLINE, (at + off as u64) as u32);
        flags |= FLAG_CMDLINE;
    }
    put(buf, 0, flags);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hv::config::{MemoryRegion, Range};

    fn map() -> MemoryMap {
        let mut p = Partition::new(0, "p");
        p.memory.push(MemoryRegion { host: Range::new(0x0200_0000, 0x0100_0000), guest_base: 0 }).unwrap();
        p.memory.push(MemoryRegion { host: Range::new(0x0400_0000, 0x0010_0000), guest_base: 0x4000_0000 }).unwrap();
        MemoryMap::of(&p, &[])
    }

    fn seg(guest: u64, mem_size: u64) -> Segment {
        Segment { offset: 0, file_size: 0, guest, mem_size }
    }

    #[test]
    fn the_information_goes_in_the_highest_free_page() {
        let m = map();
        assert_eq!(info_address(&m, &[seg(0x10_0000, 0x8000)]), Some(0x00ff_f000));
        assert_eq!(info_address(&m, &[seg(0x10_0000, 0x00ef_f001)]), Some(0x000f_f000), "a segment ending inside the top page: below it");
        assert_eq!(info_address(&m, &[seg(0x1000, 0x00ff_f000)]), None, "page 0 is never used");
    }

    #[test]
    fn the_information_describes_the_partitions_ram() {
        let mut buf = vec![0xaau8; INFO_SIZE as usize];
        write_info(&mut buf, 0xff_f000, &map(), "console=ttyS0");
        let word = |buf: &[u8], off: usize| u32::from_le_bytes(buf[off..off + 4].try_into().unwrap());
        assert_eq!(word(&buf, 0), FLAG_MEMORY | FLAG_MMAP | FLAG_CMDLINE);
        assert_eq!((word(&buf, OFF_MEM_LOWER), word(&buf, OFF_MEM_UPPER)), (640, 15 * 1024));
        assert_eq!((word(&buf, OFF_MMAP_LENGTH), word(&buf, OFF_MMAP_ADDR)), (48, 0xff_f000 + 120));
        let e = INFO_FIXED + MMAP_ENTRY;
        assert_eq!(word(&buf, e), 20);
        assert_eq!(u64::from_le_bytes(buf[e + 4..e + 12].try_into().unwrap()), 0x4000_0000, "guest addresses");
        assert_eq!(u64::from_le_bytes(buf[e + 12..e + 20].try_into().unwrap()), 0x10_0000);
        assert_eq!(word(&buf, e + 20), MEMORY_AVAILABLE);
        let cmd = word(&buf, OFF_CMDLINE) as usize - 0xff_f000;
        assert_eq!(&buf[cmd..cmd + 14], b"console=ttyS0\0");
        write_info(&mut buf, 0xff_f000, &map(), "");
        assert_eq!(word(&buf, 0) & FLAG_CMDLINE, 0);
    }
}
