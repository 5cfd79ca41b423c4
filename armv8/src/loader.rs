//! Putting a partition's boot image, its initramfs and its device tree into its RAM: at
//! boot, and again on every restart.
//!
//! Each image (the boot image, then the initramfs if any) is where the boot loader staged it (the image node's `reg`, host-physical,
//! checked by the configuration to lie in RAM outside every partition); its layout comes
//! from `hv::image`, and every segment is placed through the partition's memory map
//! ([`hv::image::place`]), so nothing is written outside the partition's own RAM whatever
//! the image's headers claim. Then the device tree ([`crate::guest_dt`]) is written, and
//! the caches are cleaned to the point of coherency so a guest running with its MMU off
//! sees it all (Linux's booting.rst). The initramfs's guest range goes into the tree's
//! `/chosen` (`linux,initrd-start`/`-end`).

use hv::config::{Image, Partition};
use hv::image::{self, ImageError};
use hv::memmap::MemoryMap;

use crate::{cache, guest_dt};

/// Where the guest starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Boot {
    /// Guest-physical entry point.
    pub entry: u64,
    /// Guest-physical address of its device tree (x0 at entry).
    pub dtb: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The partition has no `image` node.
    NoImage,
    /// The image (or initramfs: the node's name) has no `reg`: nobody staged the file.
    NotStaged(&'static str),
    Image(ImageError),
    /// No room for the device tree beside the image.
    NoRoomForTree,
    Tree(hv::fdt_writer::WriteError),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::NoImage => f.write_str("no image"),
            LoadError::NotStaged(node) => write!(f, "{node} not staged (no reg in its {node} node)"),
            LoadError::Image(e) => write!(f, "{e}"),
            LoadError::NoRoomForTree => f.write_str("no room for the device tree beside the image"),
            LoadError::Tree(e) => write!(f, "device tree: {e:?}"),
        }
    }
}

/// Loads partition `p` (memory map `map`, emulated console or not, a GIC of version
/// `gic` in its tree) into its RAM.
pub fn load(p: &Partition, map: &MemoryMap, console: bool, gic: crate::gic::Version) -> Result<Boot, LoadError> {
    let img = p.image.as_ref().ok_or(LoadError::NoImage)?;
    let kernel = place(img, "image", map)?;
    let initrd = match &p.initramfs {
        Some(i) => Some(place(i, "initramfs", map)?),
        None => None,
    };
    // A raw image is one segment: the initramfs's bytes, [start, end).
    let initrd_range = initrd.as_ref().and_then(|l| l.segments.first()).map(|s| (s.guest, s.guest + s.file_size));
    let dtb = guest_dt::address(map, kernel.segments.iter().chain(initrd.iter().flat_map(|l| l.segments.iter())))
        .ok_or(LoadError::NoRoomForTree)?;
    let host = map.translate(dtb, guest_dt::SIZE).map_err(|_| LoadError::NoRoomForTree)?;
    // SAFETY: [host, host + SIZE) is this partition's RAM (translate checked it), identity-
    // mapped at EL2; its guest is not running while it is loaded.
    let buf = unsafe { core::slice::from_raw_parts_mut(host as *mut u8, guest_dt::SIZE as usize) };
    let boot = guest_dt::Boot { console, gic, initrd: initrd_range };
    let len = guest_dt::write(buf, p, map, &boot).map_err(LoadError::Tree)?;
    cache::clean(host, len as u64);
    cache::sync_instructions();
    Ok(Boot { entry: img.entry.unwrap_or(kernel.entry), dtb })
}

/// Copies image `img` (node `node`) from where it was staged to where its layout puts it
/// in the partition's RAM, zero-fills the rest of each segment and cleans it to the point
/// of coherency. Returns the layout.
fn place(img: &Image, node: &'static str, map: &MemoryMap) -> Result<image::Layout, LoadError> {
    let staged = img.staged.ok_or(LoadError::NotStaged(node))?;
    // SAFETY: the configuration checks put the staged range inside RAM (identity-mapped
    // at EL2) and outside the hypervisor and every partition, so no guest can change it;
    // nothing writes it after the boot loader did.
    let bytes = unsafe { core::slice::from_raw_parts(staged.base as *const u8, staged.size as usize) };
    let layout = image::layout(img.format, bytes, img.load_address).map_err(LoadError::Image)?;
    let placed = image::place(&layout, map).map_err(LoadError::Image)?;
    for pl in &placed {
        let s = pl.segment;
        // layout() checked offset + file_size against the file and file_size <= mem_size.
        let src = &bytes[s.offset as usize..(s.offset + s.file_size) as usize];
        // SAFETY: place() proved [host, host + mem_size) lies in one RAM region of this
        // partition (identity-mapped at EL2); its guest is not running while it is loaded.
        let dst = unsafe { core::slice::from_raw_parts_mut(pl.host as *mut u8, s.mem_size as usize) };
        dst[..src.len()].copy_from_slice(src);
        dst[src.len()..].fill(0);
        cache::clean(pl.host, s.mem_size);
    }
    Ok(layout)
}
