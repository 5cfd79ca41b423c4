//! Putting a partition's boot image into its memory: where each piece goes comes from
//! `hv::image::layout` (the same code the host checker runs), every destination is checked
//! against the partition's [`MemoryMap`] (RAM only), and the copy is read from where the
//! boot loader staged the image. Then the partition's device tree ([`crate::guest_dt`])
//! is written beside it (r3 at entry, ePAPR). Used at boot and on every restart.

use heapless::Vec;
use hv::config::Image;
use hv::image::{self, ImageError, MAX_SEGMENTS};
use hv::memmap::{Kind, MemoryMap};

/// Why an image cannot be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The partition has no `image` node.
    NoImage,
    /// The configuration names an image nobody staged (no `reg`).
    NotStaged,
    Layout(ImageError),
    /// A piece of the image would land outside the partition's RAM.
    Outside { guest: u64 },
    /// No room for the device tree in the initial mapped area beside the image.
    NoRoomForTree,
    Tree(hv::fdt_writer::WriteError),
}

/// Where the guest starts (guest addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Boot {
    pub entry: u64,
    /// The device tree (r3).
    pub dtb: u64,
}

/// Largest TSIZE of the initial mapping (1 GiB).
const IMA_MAX_TSIZE: u32 = 10;

/// The initial mapped area a partition whose first RAM region has `ram` bytes boots
/// with (ePAPR): TLB1 TSIZE of the largest power-of-4 size (4 KiB .. 1 GiB) that fits,
/// and that size in bytes (r7).
#[inline(never)]
pub fn initial_mapping(ram: u64) -> (u32, u64) {
    let mut tsize = 1;
    while tsize < IMA_MAX_TSIZE && crate::guest_tlb::tsize_bytes(tsize + 1) <= ram {
        tsize += 1;
    }
    (tsize, crate::guest_tlb::tsize_bytes(tsize))
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::NoImage => f.write_str("no image"),
            LoadError::NoRoomForTree => f.write_str("no room for the device tree beside the image"),
            LoadError::Tree(e) => write!(f, "device tree: {e:?}"),
            LoadError::NotStaged => f.write_str("image not staged (no reg in its image node)"),
            LoadError::Layout(e) => write!(f, "{e}"),
            LoadError::Outside { guest } => write!(f, "image piece at guest {guest:#x} outside the partition's RAM"),
        }
    }
}

/// One copy: `file` bytes from `src` (host), then zeroes up to `mem`, to host `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copy {
    pub src: u64,
    pub dst: u64,
    pub file: u64,
    pub mem: u64,
}

/// What loading `bytes` (the staged image, at host `staged`) takes.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub copies: Vec<Copy, MAX_SEGMENTS>,
    pub entry: u64,
    /// Where the device tree goes (guest-physical).
    pub dtb: u64,
}

/// The copies loading `bytes` (the staged image, at host `staged`) needs, the entry, and
/// where the device tree goes: beside the image, inside the initial mapped area, in RAM.
pub fn plan(img: &Image, bytes: &[u8], staged: u64, map: &MemoryMap) -> Result<Plan, LoadError> {
    let layout = image::layout(img.format, bytes, img.load_address).map_err(LoadError::Layout)?;
    let mut copies = Vec::new();
    for s in &layout.segments {
        let outside = LoadError::Outside { guest: s.guest };
        let dst = map.translate(s.guest, s.mem_size).map_err(|_| outside)?;
        if map.find(s.guest).map(|m| m.kind) != Some(Kind::Ram) {
            return Err(outside);
        }
        // layout() checked offset + file_size against the image length.
        let _ = copies.push(Copy { src: staged + s.offset, dst, file: s.file_size, mem: s.mem_size });
    }
    let ram = map.boot_ram().map_or(0, |m| m.size);
    let dtb = crate::guest_dt::address(map, &layout, initial_mapping(ram).1)
        .filter(|&dtb| map.find(dtb).map(|m| m.kind) == Some(Kind::Ram))
        .ok_or(LoadError::NoRoomForTree)?;
    Ok(Plan { copies, entry: img.entry.unwrap_or(layout.entry), dtb })
}

/// Loads partition `p`'s image into its memory (map `map`) and writes its device tree
/// (emulated console or not, the host's `clocks`) beside it.
///
/// # Safety
/// Address space 0 maps the staged image and the partition's RAM one-to-one, nobody else
/// uses that RAM now, and the staged range is not written meanwhile.
#[cfg(target_arch = "powerpc")]
pub unsafe fn load(p: &hv::config::Partition, map: &MemoryMap, console: bool, clocks: crate::guest_dt::Clocks) -> Result<Boot, LoadError> {
    let img = p.image.as_ref().ok_or(LoadError::NoImage)?;
    let staged = img.staged.ok_or(LoadError::NotStaged)?;
    // SAFETY: the caller vouches for the staged range (checked by the configuration to lie
    // in RAM, clear of the hypervisor and every partition).
    let bytes = unsafe { core::slice::from_raw_parts(staged.base as usize as *const u8, staged.size as usize) };
    let plan = plan(img, bytes, staged.base, map)?;
    for c in &plan.copies {
        // SAFETY: dst..dst+mem is the partition's RAM (plan), src..src+file the staged
        // image; they do not overlap (the configuration keeps staging clear of partitions).
        unsafe {
            core::ptr::copy_nonoverlapping(c.src as usize as *const u8, c.dst as usize as *mut u8, c.file as usize);
            core::ptr::write_bytes((c.dst + c.file) as usize as *mut u8, 0, (c.mem - c.file) as usize);
        }
        sync_icache(c.dst, c.mem);
    }
    let host = map.translate(plan.dtb, crate::guest_dt::SIZE).map_err(|_| LoadError::NoRoomForTree)?;
    // SAFETY: [host, host + SIZE) is this partition's RAM (translate), mapped one-to-one,
    // and its guest is not running.
    let buf = unsafe { core::slice::from_raw_parts_mut(host as usize as *mut u8, crate::guest_dt::SIZE as usize) };
    crate::guest_dt::write(buf, p, map, console, clocks).map_err(LoadError::Tree)?;
    Ok(Boot { entry: plan.entry, dtb: plan.dtb })
}

/// Makes freshly written code visible to instruction fetch (e500: 32-byte lines).
#[cfg(target_arch = "powerpc")]
fn sync_icache(start: u64, len: u64) {
    const LINE: u64 = 32;
    let mut a = start & !(LINE - 1);
    while a < start + len {
        // SAFETY: cache maintenance on memory the caller just wrote; no data changes.
        unsafe { core::arch::asm!("dcbst 0, {0}", "sync", "icbi 0, {0}", in(reg_nonzero) a as u32, options(nostack)) };
        a += LINE;
    }
    // SAFETY: as above.
    unsafe { core::arch::asm!("sync", "isync", options(nostack)) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use hv::config::{ImageFormat, MemoryRegion, Partition, Range};

    fn map() -> MemoryMap {
        let mut p = Partition::new(0, "p");
        p.memory.push(MemoryRegion { host: Range::new(0x0200_0000, 0x0100_0000), guest_base: 0 }).unwrap();
        MemoryMap::of(&p, &[])
    }

    fn raw(at: u64) -> Image {
        Image { format: ImageFormat::Raw, load_address: Some(at), entry: None, staged: None, file: "x".try_into().unwrap() }
    }

    #[test]
    fn raw_image_goes_to_host_ram_of_its_guest_address() {
        let p = plan(&raw(0x1000), &[0u8; 64], 0x1800_0000, &map()).unwrap();
        assert_eq!(p.entry, 0x1000);
        assert_eq!(p.copies[0], Copy { src: 0x1800_0000, dst: 0x0200_1000, file: 64, mem: 64 });
    }

    #[test]
    fn initial_mapping_is_the_largest_power_of_four_that_fits() {
        assert_eq!(initial_mapping(0x800_0000), (8, 0x400_0000), "128 MiB RAM: 64 MiB");
        assert_eq!(initial_mapping(0x100_0000), (7, 0x100_0000));
        assert_eq!(initial_mapping(0x1_0000_0000), (10, 0x4000_0000), "capped at 1 GiB");
        assert_eq!(initial_mapping(0), (1, 0x1000), "never below 4 KiB");
    }

    #[test]
    fn the_tree_goes_above_the_image() {
        assert_eq!(plan(&raw(0x1000), &[0u8; 64], 0, &map()).map(|p| p.dtb), Ok(0x10_0000));
        assert_eq!(plan(&raw(0x1000), &[0u8; 0xff_0000], 0, &map()).map(|p| p.dtb), Err(LoadError::NoRoomForTree));
    }

    #[test]
    fn images_leaving_ram_are_refused() {
        assert_eq!(plan(&raw(0x00ff_fff0), &[0u8; 64], 0, &map()), Err(LoadError::Outside { guest: 0x00ff_fff0 }));
        assert_eq!(plan(&raw(0x0200_0000), &[0u8; 4], 0, &map()), Err(LoadError::Outside { guest: 0x0200_0000 }));
    }
}
