//! Structural validation of the blob, and property decoding helpers.
//!
//! Why: the `fdt` crate (0.1.5) trusts its input: truncated properties, bad tokens,
//! unbalanced nodes or string offsets past the strings block make it index out of bounds,
//! `unwrap` or `assert`. The configuration comes from outside the hypervisor, so before
//! the crate sees a blob, [`validate`] walks every token with checked arithmetic and
//! rejects anything the crate could trip over. After that, the crate's accessors are
//! safe to use. The decoding helpers below never index; they return `None` instead.

use fdt::node::NodeProperty;

const MAGIC: u32 = 0xd00d_feed;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9; // FDT_END (Devicetree Specification v0.4, 5.4.1)
/// Deepest nesting accepted (the crate's node iterator keeps at most 64 parents; we also
/// recurse per level, so keep it well below that).
pub const MAX_DEPTH: usize = 16;

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let b = data.get(at..end)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A NUL-terminated UTF-8 string starting at `at`; returns its length without the NUL.
fn cstr_len(data: &[u8], at: usize) -> Option<usize> {
    let rest = data.get(at..)?;
    let len = rest.iter().position(|&b| b == 0)?;
    core::str::from_utf8(rest.get(..len)?).ok()?;
    Some(len)
}

fn align4(n: usize) -> Option<usize> {
    Some(n.checked_add(3)? & !3)
}

/// Checks that `dtb` is a flattened device tree the `fdt` crate can walk without
/// panicking. `Err` says what is wrong.
pub fn validate(dtb: &[u8]) -> Result<(), &'static str> {
    let h = |i: usize| be32(dtb, i * 4).ok_or("shorter than the 40-byte header");
    if h(0)? != MAGIC {
        return Err("bad magic");
    }
    let total = h(1)? as usize;
    let (off_struct, off_strings) = (h(2)? as usize, h(3)? as usize);
    let (version, size_strings, size_struct) = (h(5)?, h(8)? as usize, h(9)? as usize);
    if total > dtb.len() || total < 40 {
        return Err("totalsize does not match the buffer");
    }
    if version < 17 {
        return Err("version older than 17");
    }
    let struct_end = off_struct.checked_add(size_struct).ok_or("struct block overflows")?;
    let strings_end = off_strings.checked_add(size_strings).ok_or("strings block overflows")?;
    if struct_end > total || strings_end > total || off_struct % 4 != 0 {
        return Err("struct or strings block outside the blob");
    }
    let st = dtb.get(off_struct..struct_end).ok_or("struct block outside the blob")?;
    let strings = dtb.get(off_strings..strings_end).ok_or("strings block outside the blob")?;
    walk(st, strings)
}

/// Token walk. Layout accepted: `BEGIN_NODE name (PROP)* (child)* (NOP)* END_NODE`, one
/// root with an empty name, then `END`. NOPs are accepted only right before END_NODE
/// (anywhere else the crate's skipping code would misparse them).
fn walk(st: &[u8], strings: &[u8]) -> Result<(), &'static str> {
    let mut at = 0usize;
    let mut depth = 0usize;
    let mut roots = 0usize;
    // Per level: whether a child node has been seen (props must come first).
    let mut seen_child = [false; MAX_DEPTH + 1];
    loop {
        let tok = be32(st, at).ok_or("struct block ends without END")?;
        at += 4;
        match tok {
            BEGIN_NODE => {
                let len = cstr_len(st, at).ok_or("node name not a terminated UTF-8 string")?;
                if depth == 0 {
                    roots += 1;
                    if roots > 1 || len != 0 {
                        return Err("root node must be one node with an empty name");
                    }
                } else if len == 0 {
                    return Err("empty node name");
                }
                if let Some(s) = seen_child.get_mut(depth) {
                    *s = true;
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err("nodes nested too deep");
                }
                seen_child[depth] = false;
                at = align4(at.checked_add(len + 1).ok_or("overflow")?).ok_or("overflow")?;
            }
            PROP => {
                if depth == 0 {
                    return Err("property outside any node");
                }
                if seen_child[depth] {
                    return Err("property after a child node");
                }
                let len = be32(st, at).ok_or("truncated property")? as usize;
                let name = be32(st, at + 4).ok_or("truncated property")? as usize;
                cstr_len(strings, name).ok_or("property name outside the strings block")?;
                let data = at.checked_add(8).ok_or("overflow")?;
                let end = data.checked_add(len).ok_or("overflow")?;
                if end > st.len() {
                    return Err("property value runs past the struct block");
                }
                at = align4(end).ok_or("overflow")?;
            }
            NOP => {
                let mut next = at;
                while be32(st, next) == Some(NOP) {
                    next += 4;
                }
                if be32(st, next) != Some(END_NODE) || depth == 0 {
                    return Err("NOP token where only END_NODE may follow");
                }
                at = next;
            }
            END_NODE => {
                if depth == 0 {
                    return Err("unbalanced END_NODE");
                }
                depth -= 1;
            }
            END => {
                return if depth == 0 && roots == 1 { Ok(()) } else { Err("END inside a node") };
            }
            _ => return Err("unknown token in struct block"),
        }
    }
}

/// Iterator over the big-endian 32-bit cells of a property value (trailing bytes ignored;
/// callers check lengths first).
pub fn cells(value: &[u8]) -> impl Iterator<Item = u32> + '_ {
    value.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

/// A number of `n` cells (n <= 2) from the front of `value`, or `None`.
pub fn read_cells(value: &[u8], n: usize) -> Option<u64> {
    if n > 2 {
        return None;
    }
    let bytes = value.get(..n.checked_mul(4)?)?;
    Some(cells(bytes).fold(0u64, |acc, c| (acc << 32) | u64::from(c)))
}

/// A single u32 property.
pub fn prop_u32(p: &NodeProperty<'_>) -> Option<u32> {
    if p.value.len() != 4 {
        return None;
    }
    cells(p.value).next()
}

/// A single NUL-terminated string.
pub fn prop_str<'a>(p: &NodeProperty<'a>) -> Option<&'a str> {
    let (last, body) = p.value.split_last()?;
    if *last != 0 || body.contains(&0) {
        return None;
    }
    core::str::from_utf8(body).ok()
}

/// A string list (`"a", "b"`); `None` if not well formed.
pub fn prop_strs<'a>(p: &NodeProperty<'a>) -> Option<impl Iterator<Item = &'a str>> {
    let (last, body) = p.value.split_last()?;
    if *last != 0 {
        return None;
    }
    let s = core::str::from_utf8(body).ok()?;
    Some(s.split('\0'))
}
