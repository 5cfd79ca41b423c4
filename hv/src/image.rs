//! Guest boot images: where each part of an image goes in guest-physical memory.
//!
//! Pure parsing, shared by the host checker (does the image fit?) and the hypervisor (copy
//! it from where the boot loader staged it, at boot and on every restart). The image is
//! guest input like any other: every offset and size is checked before use.
//!
//! Formats: raw binary (placed at the configured load address), ELF (32 or 64-bit, either
//! endianness; `PT_LOAD` segments at their physical addresses), and the arm64 Linux `Image`
//! (Documentation/arch/arm64/booting.rst: placed `text_offset` bytes above a 2 MiB aligned
//! base, `image_size` bytes reserved).

use heapless::Vec;

use crate::config::ImageFormat;
use crate::memmap::{Kind, MemoryMap};

/// Most loadable segments an ELF image may have.
pub const MAX_SEGMENTS: usize = 8;

/// One piece of the image: `file_size` bytes from `offset` in the image go to guest
/// address `guest`, followed by zeroes up to `mem_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub offset: u64,
    pub file_size: u64,
    pub guest: u64,
    pub mem_size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub entry: u64,
    pub segments: Vec<Segment, MAX_SEGMENTS>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// The file is shorter than its headers say.
    Truncated,
    /// Not an ELF / not an arm64 Image.
    BadMagic,
    /// A raw or arm64 image without `bulkhead,load-address`.
    NoLoadAddress,
    /// arm64 Image base not 2 MiB aligned.
    Misaligned,
    TooManySegments,
    /// A segment's addresses or sizes overflow.
    Overflow,
    /// A segment is not wholly inside one of the partition's RAM regions.
    OutsideMemory,
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ImageError::Truncated => "image is shorter than its headers say",
            ImageError::BadMagic => "image does not have the configured format's magic number",
            ImageError::NoLoadAddress => "image format needs bulkhead,load-address",
            ImageError::Misaligned => "arm64 Image load address must be 2 MiB aligned",
            ImageError::TooManySegments => "ELF image has more than 8 loadable segments",
            ImageError::Overflow => "image segment addresses overflow",
            ImageError::OutsideMemory => "image segment outside the partition's RAM",
        })
    }
}

/// Where the parts of `bytes` go. `load_address` is the configured guest-physical address
/// (required for raw and arm64 images; ignored for ELF). Out of line: ports call it from
/// their loaders, and LTO would otherwise copy the ELF parser into them.
#[inline(never)]
pub fn layout(format: ImageFormat, bytes: &[u8], load_address: Option<u64>) -> Result<Layout, ImageError> {
    match format {
        ImageFormat::Raw => {
            let at = load_address.ok_or(ImageError::NoLoadAddress)?;
            one(at, at, bytes.len() as u64, bytes.len() as u64)
        }
        ImageFormat::Arm64Image => arm64(bytes, load_address.ok_or(ImageError::NoLoadAddress)?),
        ImageFormat::Elf => elf(bytes),
    }
}

/// A segment and the host-physical address its first byte goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    pub segment: Segment,
    pub host: u64,
}

/// Where each segment of `layout` goes in host memory. Every byte of every segment
/// (`mem_size`, not just the file part) must lie in one RAM mapping of `map`: an image
/// cannot write into shared memory, device registers or anything not the partition's.
pub fn place(layout: &Layout, map: &MemoryMap) -> Result<Vec<Placed, MAX_SEGMENTS>, ImageError> {
    let mut placed = Vec::new();
    for s in &layout.segments {
        map.find(s.guest).filter(|m| m.kind == Kind::Ram).ok_or(ImageError::OutsideMemory)?;
        let host = map.translate(s.guest, s.mem_size).map_err(|_| ImageError::OutsideMemory)?;
        // Capacity equals the layout's own: cannot fail.
        let _ = placed.push(Placed { segment: *s, host });
    }
    Ok(placed)
}

fn one(entry: u64, guest: u64, file_size: u64, mem_size: u64) -> Result<Layout, ImageError> {
    guest.checked_add(mem_size).ok_or(ImageError::Overflow)?;
    let mut segments = Vec::new();
    let _ = segments.push(Segment { offset: 0, file_size, guest, mem_size });
    Ok(Layout { entry, segments })
}

/// Reads an unsigned field of `width` bytes at `at`.
fn field(bytes: &[u8], at: usize, width: usize, big_endian: bool) -> Result<u64, ImageError> {
    let end = at.checked_add(width).ok_or(ImageError::Truncated)?;
    let b = bytes.get(at..end).ok_or(ImageError::Truncated)?;
    let mut v = 0u64;
    for i in 0..width {
        let byte = if big_endian { b[i] } else { b[width - 1 - i] };
        v = (v << 8) | byte as u64;
    }
    Ok(v)
}

const ARM64_MAGIC: &[u8; 4] = b"ARM\x64";
const ARM64_BASE_ALIGN: u64 = 2 << 20;

fn arm64(bytes: &[u8], base: u64) -> Result<Layout, ImageError> {
    if bytes.get(56..60) != Some(ARM64_MAGIC) {
        return Err(ImageError::BadMagic);
    }
    if base % ARM64_BASE_ALIGN != 0 {
        return Err(ImageError::Misaligned);
    }
    let text_offset = field(bytes, 8, 8, false)?;
    let image_size = field(bytes, 16, 8, false)?;
    // image_size 0 means an old kernel: text_offset 0x80000 and the file length.
    let (text_offset, image_size) = if image_size == 0 { (0x80000, bytes.len() as u64) } else { (text_offset, image_size) };
    let at = base.checked_add(text_offset).ok_or(ImageError::Overflow)?;
    let file = bytes.len() as u64;
    one(at, at, file, image_size.max(file))
}

const PT_LOAD: u64 = 1;

fn elf(bytes: &[u8]) -> Result<Layout, ImageError> {
    if bytes.get(0..4) != Some(b"\x7fELF") {
        return Err(ImageError::BadMagic);
    }
    let class64 = match bytes.get(4) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err(ImageError::BadMagic),
    };
    let be = match bytes.get(5) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err(ImageError::BadMagic),
    };
    let w = if class64 { 8 } else { 4 };
    let f = |at: usize, width: usize| field(bytes, at, width, be);
    // e_entry, e_phoff, e_phentsize, e_phnum
    let entry = f(24, w)?;
    let phoff = f(if class64 { 32 } else { 28 }, w)?;
    let (phentsize, phnum) = if class64 { (f(54, 2)?, f(56, 2)?) } else { (f(42, 2)?, f(44, 2)?) };
    let mut segments = Vec::new();
    for i in 0..phnum {
        let ph = phoff.checked_add(i * phentsize).ok_or(ImageError::Overflow)? as usize;
        if f(ph, 4)? != PT_LOAD {
            continue;
        }
        // (p_offset, p_paddr, p_filesz, p_memsz)
        let (offset, paddr, filesz, memsz) = if class64 {
            (f(ph + 8, 8)?, f(ph + 24, 8)?, f(ph + 32, 8)?, f(ph + 40, 8)?)
        } else {
            (f(ph + 4, 4)?, f(ph + 12, 4)?, f(ph + 16, 4)?, f(ph + 20, 4)?)
        };
        if memsz == 0 {
            continue;
        }
        let file_end = offset.checked_add(filesz).ok_or(ImageError::Overflow)?;
        if file_end > bytes.len() as u64 {
            return Err(ImageError::Truncated);
        }
        if filesz > memsz || paddr.checked_add(memsz).is_none() {
            return Err(ImageError::Overflow);
        }
        segments
            .push(Segment { offset, file_size: filesz, guest: paddr, mem_size: memsz })
            .map_err(|_| ImageError::TooManySegments)?;
    }
    Ok(Layout { entry, segments })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF with the given program headers: (type, offset, paddr, filesz, memsz).
    fn elf_image(class64: bool, big_endian: bool, entry: u64, phdrs: &[(u32, u64, u64, u64, u64)]) -> std::vec::Vec<u8> {
        let put = |v: &mut std::vec::Vec<u8>, x: u64, width: usize| {
            let bytes = x.to_be_bytes();
            let mut b = bytes[8 - width..].to_vec();
            if !big_endian {
                b.reverse();
            }
            v.extend_from_slice(&b);
        };
        let (w, ehsize, phentsize) = if class64 { (8, 64, 56) } else { (4, 52, 32) };
        let mut v = b"\x7fELF".to_vec();
        v.push(if class64 { 2 } else { 1 });
        v.push(if big_endian { 2 } else { 1 });
        v.resize(16, 0);
        put(&mut v, 2, 2); // e_type
        put(&mut v, 0, 2); // e_machine
        put(&mut v, 1, 4); // e_version
        put(&mut v, entry, w);
        put(&mut v, ehsize as u64, w); // e_phoff
        put(&mut v, 0, w); // e_shoff
        put(&mut v, 0, 4); // e_flags
        put(&mut v, ehsize as u64, 2);
        put(&mut v, phentsize as u64, 2);
        put(&mut v, phdrs.len() as u64, 2);
        put(&mut v, 0, 2);
        put(&mut v, 0, 2);
        put(&mut v, 0, 2);
        assert_eq!(v.len(), ehsize);
        for &(ty, off, paddr, filesz, memsz) in phdrs {
            put(&mut v, ty as u64, 4);
            if class64 {
                put(&mut v, 7, 4); // p_flags
                for x in [off, paddr, paddr, filesz, memsz, 0x1000] {
                    put(&mut v, x, 8);
                }
            } else {
                for x in [off, paddr, paddr, filesz, memsz, 7, 0x1000] {
                    put(&mut v, x, 4);
                }
            }
        }
        v.resize(0x200, 0xaa);
        v
    }

    #[test]
    fn raw_goes_to_the_load_address() {
        let l = layout(ImageFormat::Raw, &[1, 2, 3], Some(0x4008_0000)).unwrap();
        assert_eq!(l.entry, 0x4008_0000);
        assert_eq!(l.segments[0], Segment { offset: 0, file_size: 3, guest: 0x4008_0000, mem_size: 3 });
        assert_eq!(layout(ImageFormat::Raw, &[1], None), Err(ImageError::NoLoadAddress));
    }

    #[test]
    fn elf_segments_in_every_class_and_byte_order() {
        for (class64, be) in [(true, false), (false, true), (true, true), (false, false)] {
            let img = elf_image(class64, be, 0x4008_0000, &[(1, 0x100, 0x4008_0000, 0x80, 0x1000), (4, 0, 0, 0, 0)]);
            let l = layout(ImageFormat::Elf, &img, None).unwrap();
            assert_eq!(l.entry, 0x4008_0000, "class64={class64} be={be}");
            assert_eq!(l.segments.len(), 1, "non-LOAD headers skipped");
            assert_eq!(l.segments[0], Segment { offset: 0x100, file_size: 0x80, guest: 0x4008_0000, mem_size: 0x1000 });
        }
    }

    #[test]
    fn elf_lies_are_rejected() {
        let past_end = elf_image(true, false, 0, &[(1, 0x100, 0x1000, 0x1000, 0x1000)]);
        assert_eq!(layout(ImageFormat::Elf, &past_end, None), Err(ImageError::Truncated));
        let filesz_over_memsz = elf_image(true, false, 0, &[(1, 0x100, 0x1000, 0x80, 0x40)]);
        assert_eq!(layout(ImageFormat::Elf, &filesz_over_memsz, None), Err(ImageError::Overflow));
        let wraps = elf_image(true, false, 0, &[(1, 0x100, u64::MAX - 4, 0x10, 0x10)]);
        assert_eq!(layout(ImageFormat::Elf, &wraps, None), Err(ImageError::Overflow));
        let many: std::vec::Vec<_> = (0..9).map(|i| (1, 0x100, 0x1000 * i, 0x10, 0x10)).collect();
        let img = elf_image(false, true, 0, &many);
        assert_eq!(layout(ImageFormat::Elf, &img, None), Err(ImageError::TooManySegments));
        assert_eq!(layout(ImageFormat::Elf, b"\x7fELF", None), Err(ImageError::BadMagic));
        assert_eq!(layout(ImageFormat::Elf, b"MZ", None), Err(ImageError::BadMagic));
        let mut short = elf_image(true, false, 0, &[(1, 0x100, 0x1000, 0x10, 0x10)]);
        short.truncate(70);
        assert_eq!(layout(ImageFormat::Elf, &short, None), Err(ImageError::Truncated));
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut seed = 0x1234_5678u32;
        for len in 0..300 {
            let mut img = elf_image(len % 2 == 0, len % 3 == 0, 0, &[(1, 0x40, 0, 0x10, 0x10)]);
            for _ in 0..8 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let at = (seed as usize >> 8) % img.len();
                img[at] = (seed >> 24) as u8;
            }
            img.truncate(len);
            let _ = layout(ImageFormat::Elf, &img, None);
            let _ = layout(ImageFormat::Arm64Image, &img, Some(0x4000_0000));
        }
    }

    #[test]
    fn placement_stays_in_the_partitions_ram() {
        use crate::config::{MemoryRegion, Partition, Range, SharedRegion};
        let mut p = Partition::new(0, "p");
        p.memory.push(MemoryRegion { host: Range::new(0x4800_0000, 0x100_0000), guest_base: 0x4000_0000 }).unwrap();
        let mut shm = SharedRegion { name: "s".try_into().unwrap(), host: Range::new(0x4f00_0000, 0x1000), partitions: Default::default() };
        shm.partitions.push(0).unwrap();
        let map = MemoryMap::of(&p, core::slice::from_ref(&shm));
        let seg = |guest, mem_size| Layout { entry: guest, segments: Vec::from_slice(&[Segment { offset: 0, file_size: 0, guest, mem_size }]).unwrap() };
        let placed = place(&seg(0x4008_0000, 0x1000), &map).unwrap();
        assert_eq!(placed[0].host, 0x4808_0000);
        assert_eq!(place(&seg(0x40ff_f000, 0x1001), &map), Err(ImageError::OutsideMemory), "bss past the end");
        assert_eq!(place(&seg(0x4f00_0000, 0x10), &map), Err(ImageError::OutsideMemory), "shared memory");
        assert_eq!(place(&seg(0x4800_0000, 0x10), &map), Err(ImageError::OutsideMemory), "host address");
        assert_eq!(place(&seg(u64::MAX - 1, 0x10), &map), Err(ImageError::OutsideMemory));
    }

    fn arm64_image(text_offset: u64, image_size: u64, len: usize) -> std::vec::Vec<u8> {
        let mut v = vec![0u8; len];
        v[8..16].copy_from_slice(&text_offset.to_le_bytes());
        v[16..24].copy_from_slice(&image_size.to_le_bytes());
        v[56..60].copy_from_slice(ARM64_MAGIC);
        v
    }

    #[test]
    fn arm64_image_honours_text_offset_and_image_size() {
        let l = layout(ImageFormat::Arm64Image, &arm64_image(0, 0x20_0000, 0x1000), Some(0x4020_0000)).unwrap();
        assert_eq!(l.entry, 0x4020_0000);
        assert_eq!(l.segments[0], Segment { offset: 0, file_size: 0x1000, guest: 0x4020_0000, mem_size: 0x20_0000 });
        let old = layout(ImageFormat::Arm64Image, &arm64_image(0, 0, 0x1000), Some(0x4000_0000)).unwrap();
        assert_eq!(old.entry, 0x4008_0000, "image_size 0: text_offset 0x80000");
        assert_eq!(layout(ImageFormat::Arm64Image, &arm64_image(0, 0x1000, 0x1000), Some(0x4010_0000)), Err(ImageError::Misaligned));
        assert_eq!(layout(ImageFormat::Arm64Image, &[0u8; 64], Some(0x4000_0000)), Err(ImageError::BadMagic));
    }
}
