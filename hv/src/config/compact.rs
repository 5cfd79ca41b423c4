//! Taking a private, NOP-free copy of a device tree.
//!
//! Why: firmware edits trees in place, and libfdt's way of deleting a node is to overwrite
//! it with NOP tokens (QEMU does this to `/memory` when it loads a `-dtb` file). The `fdt`
//! crate loses nodes when a NOP sits between properties or right before an END_NODE, so
//! rather than teach every reader about NOPs, the hypervisor copies the tree into its own
//! memory without them. The copy is also what the hypervisor keeps: the boot loader's
//! tree may lie in memory a partition will own.
//!
//! Only the token framing is checked here (with checked arithmetic, never trusting a
//! length); [`super::blob::validate`] checks the copy's structure afterwards.

const MAGIC: u32 = 0xd00d_feed;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;
const HEADER: usize = 40;

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let w = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

fn align4(n: usize) -> Option<usize> {
    Some(n.checked_add(3)? & !3)
}

/// Appends to `dst` at `*pos`, failing when it does not fit.
fn put(dst: &mut [u8], pos: &mut usize, bytes: &[u8]) -> Result<(), &'static str> {
    let end = pos.checked_add(bytes.len()).ok_or("overflow")?;
    dst.get_mut(*pos..end).ok_or("device tree larger than the hypervisor's copy buffer")?.copy_from_slice(bytes);
    *pos = end;
    Ok(())
}

/// Copies `src` into `dst` as a version-17 blob without NOP tokens; returns its length.
pub fn without_nops(src: &[u8], dst: &mut [u8]) -> Result<usize, &'static str> {
    let h = |i: usize| be32(src, i * 4).map(|v| v as usize).ok_or("shorter than the 40-byte header");
    if h(0)? != MAGIC as usize {
        return Err("bad magic");
    }
    let total = h(1)?;
    let src = src.get(..total).ok_or("totalsize larger than the blob")?;
    let (off_struct, off_strings, off_rsv) = (h(2)?, h(3)?, h(4)?);
    let (boot_cpu, size_strings, size_struct) = (h(7)?, h(8)?, h(9)?);
    let structs = src.get(off_struct..off_struct.checked_add(size_struct).ok_or("overflow")?).ok_or("struct block outside the blob")?;
    let strings = src.get(off_strings..off_strings.checked_add(size_strings).ok_or("overflow")?).ok_or("strings block outside the blob")?;

    // Memory reservation block: 16-byte (address, size) entries up to an all-zero one.
    let mut pos = HEADER;
    let mut at = off_rsv;
    loop {
        let entry = src.get(at..at.checked_add(16).ok_or("overflow")?).ok_or("reservation block runs off the blob")?;
        put(dst, &mut pos, entry)?;
        at += 16;
        if entry.iter().all(|&b| b == 0) {
            break;
        }
    }

    let new_struct = pos;
    let mut at = 0usize;
    loop {
        let tok = be32(structs, at).ok_or("struct block ends without END")?;
        let next = match tok {
            NOP => {
                at += 4;
                continue;
            }
            BEGIN_NODE => {
                let name = structs.get(at + 4..).ok_or("truncated node")?;
                let len = name.iter().position(|&b| b == 0).ok_or("unterminated node name")?;
                align4(at + 4 + len + 1).ok_or("overflow")?
            }
            PROP => {
                let len = be32(structs, at + 4).ok_or("truncated property")? as usize;
                align4(at.checked_add(12).and_then(|d| d.checked_add(len)).ok_or("overflow")?).ok_or("overflow")?
            }
            END_NODE | END => at + 4,
            _ => return Err("unknown token in struct block"),
        };
        // Padding of the last property or name may run to the block's end: clamp, pad.
        let bytes = structs.get(at..next.min(structs.len())).ok_or("token runs past the struct block")?;
        if next > structs.len() && tok != BEGIN_NODE && tok != PROP {
            return Err("token runs past the struct block");
        }
        put(dst, &mut pos, bytes)?;
        while pos % 4 != 0 {
            put(dst, &mut pos, &[0])?;
        }
        at = next;
        if tok == END {
            break;
        }
    }
    let new_struct_size = pos - new_struct;
    let new_strings = pos;
    put(dst, &mut pos, strings)?;

    let header: [usize; 10] = [
        MAGIC as usize,
        pos,
        new_struct,
        new_strings,
        HEADER,
        17,
        16,
        boot_cpu,
        size_strings,
        new_struct_size,
    ];
    for (i, v) in header.iter().enumerate() {
        dst[i * 4..i * 4 + 4].copy_from_slice(&(*v as u32).to_be_bytes());
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdt_writer::FdtWriter;

    /// A tree written without NOPs, then with NOP runs inserted at `places` (byte offsets
    /// into the struct block, token-aligned) the way libfdt's node deletion leaves them.
    fn tree_with_nops(places: &[usize]) -> (Vec<u8>, Vec<u8>) {
        let mut buf = vec![0u8; 4096];
        let mut w = FdtWriter::new(&mut buf).unwrap();
        w.begin_node("").unwrap();
        w.prop_u32("#address-cells", 2).unwrap();
        w.prop_u32("#size-cells", 2).unwrap();
        w.begin_node("memory@40000000").unwrap();
        w.prop_str("device_type", "memory").unwrap();
        w.prop_reg64("reg", &[(0x4000_0000, 0x4000_0000)]).unwrap();
        w.end_node().unwrap();
        w.begin_node("chosen").unwrap();
        w.end_node().unwrap();
        w.end_node().unwrap();
        let len = w.finish().unwrap();
        buf.truncate(len);
        let clean = buf.clone();

        let off_struct = u32::from_be_bytes(buf[8..12].try_into().unwrap()) as usize;
        let mut st = buf[off_struct..u32::from_be_bytes(buf[12..16].try_into().unwrap()) as usize].to_vec();
        let strings = buf[u32::from_be_bytes(buf[12..16].try_into().unwrap()) as usize..].to_vec();
        for &p in places.iter().rev() {
            for _ in 0..3 {
                st.splice(p..p, NOP.to_be_bytes());
            }
        }
        let mut out = buf[..off_struct].to_vec();
        let new_strings = out.len() + st.len();
        out.extend_from_slice(&st);
        out.extend_from_slice(&strings);
        let total = out.len() as u32;
        out[4..8].copy_from_slice(&total.to_be_bytes());
        out[12..16].copy_from_slice(&(new_strings as u32).to_be_bytes());
        out[36..40].copy_from_slice(&(st.len() as u32).to_be_bytes());
        (out, clean)
    }

    #[test]
    fn nops_anywhere_are_removed_and_the_tree_is_unchanged() {
        // Offsets: 0 = before the root, 8 = after its name, 24 = between the two root
        // properties, and the last END_NODE region (before the root's END_NODE).
        for places in [&[0usize][..], &[8], &[24], &[8, 24, 40]] {
            let (with_nops, clean) = tree_with_nops(places);
            let mut dst = vec![0u8; 4096];
            let len = without_nops(&with_nops, &mut dst).unwrap();
            assert_eq!(&dst[..len], &clean[..], "NOPs at {places:?}");
        }
    }

    #[test]
    fn too_small_buffer_and_garbage_are_errors_not_panics() {
        let (blob, _) = tree_with_nops(&[8]);
        let mut small = vec![0u8; 64];
        assert!(without_nops(&blob, &mut small).is_err());
        let mut dst = vec![0u8; 4096];
        for cut in 0..blob.len() {
            let mut b = blob.clone();
            b.truncate(cut);
            let _ = without_nops(&b, &mut dst);
            let mut flipped = blob.clone();
            flipped[cut] ^= 0xff;
            let _ = without_nops(&flipped, &mut dst);
        }
    }
}
