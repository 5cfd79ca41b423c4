//! Writing flattened device trees into a fixed buffer, without a heap.
//!
//! Used to give each partition a device tree describing only what it owns (memory, CPUs,
//! interrupt controller, timer, console, devices). Layout per the Devicetree
//! Specification v0.4, chapter 5: header, empty memory-reservation block, structure block,
//! strings block.
//!
//! The structure block is written forward from the start of the buffer (after the header
//! and reservation block); property names are collected in a small strings table that is
//! appended by [`FdtWriter::finish`].

const MAGIC: u32 = 0xd00d_feed;
const HEADER: usize = 40;
const RESERVE: usize = 16; // one terminating (0, 0) entry
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const END: u32 = 9;
/// Room for property names (they are shared: each name is stored once).
const STRINGS: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The buffer is too small for the tree.
    Full,
    /// More distinct property names than the strings table holds.
    TooManyNames,
    /// end_node without begin_node, or finish with nodes open.
    Unbalanced,
}

pub struct FdtWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
    depth: usize,
    strings: [u8; STRINGS],
    strings_len: usize,
}

impl<'a> FdtWriter<'a> {
    pub fn new(buf: &'a mut [u8]) -> Result<Self, WriteError> {
        if buf.len() < HEADER + RESERVE {
            return Err(WriteError::Full);
        }
        buf[..HEADER + RESERVE].fill(0);
        Ok(FdtWriter { buf, pos: HEADER + RESERVE, depth: 0, strings: [0; STRINGS], strings_len: 0 })
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        let end = self.pos.checked_add(bytes.len()).ok_or(WriteError::Full)?;
        self.buf.get_mut(self.pos..end).ok_or(WriteError::Full)?.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    fn align(&mut self) -> Result<(), WriteError> {
        while self.pos % 4 != 0 {
            self.put(&[0])?;
        }
        Ok(())
    }

    fn token(&mut self, t: u32) -> Result<(), WriteError> {
        self.put(&t.to_be_bytes())
    }

    pub fn begin_node(&mut self, name: &str) -> Result<(), WriteError> {
        self.token(BEGIN_NODE)?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.align()?;
        self.depth += 1;
        Ok(())
    }

    pub fn end_node(&mut self) -> Result<(), WriteError> {
        if self.depth == 0 {
            return Err(WriteError::Unbalanced);
        }
        self.depth -= 1;
        self.token(END_NODE)
    }

    fn name_offset(&mut self, name: &str) -> Result<u32, WriteError> {
        let table = &self.strings[..self.strings_len];
        let mut start = 0;
        for (i, &b) in table.iter().enumerate() {
            if b == 0 {
                if &table[start..i] == name.as_bytes() {
                    return Ok(start as u32);
                }
                start = i + 1;
            }
        }
        let off = self.strings_len;
        let end = off + name.len() + 1;
        if end > STRINGS {
            return Err(WriteError::TooManyNames);
        }
        self.strings[off..end - 1].copy_from_slice(name.as_bytes());
        self.strings[end - 1] = 0;
        self.strings_len = end;
        Ok(off as u32)
    }

    /// A property with raw bytes as its value.
    pub fn prop(&mut self, name: &str, value: &[u8]) -> Result<(), WriteError> {
        let nameoff = self.name_offset(name)?;
        self.token(PROP)?;
        self.put(&(value.len() as u32).to_be_bytes())?;
        self.put(&nameoff.to_be_bytes())?;
        self.put(value)?;
        self.align()
    }

    pub fn prop_empty(&mut self, name: &str) -> Result<(), WriteError> {
        self.prop(name, &[])
    }

    pub fn prop_str(&mut self, name: &str, value: &str) -> Result<(), WriteError> {
        self.prop_strs(name, &[value])
    }

    /// A string list (e.g. `compatible`).
    pub fn prop_strs(&mut self, name: &str, values: &[&str]) -> Result<(), WriteError> {
        let len: usize = values.iter().map(|v| v.len() + 1).sum();
        let nameoff = self.name_offset(name)?;
        self.token(PROP)?;
        self.put(&(len as u32).to_be_bytes())?;
        self.put(&nameoff.to_be_bytes())?;
        for v in values {
            self.put(v.as_bytes())?;
            self.put(&[0])?;
        }
        self.align()
    }

    /// A list of 32-bit cells.
    pub fn prop_cells(&mut self, name: &str, cells: &[u32]) -> Result<(), WriteError> {
        let nameoff = self.name_offset(name)?;
        self.token(PROP)?;
        self.put(&((cells.len() * 4) as u32).to_be_bytes())?;
        self.put(&nameoff.to_be_bytes())?;
        for c in cells {
            self.put(&c.to_be_bytes())?;
        }
        Ok(())
    }

    pub fn prop_u32(&mut self, name: &str, v: u32) -> Result<(), WriteError> {
        self.prop_cells(name, &[v])
    }

    /// `reg`-style pairs of 64-bit (address, size), as two cells each.
    pub fn prop_reg64(&mut self, name: &str, pairs: &[(u64, u64)]) -> Result<(), WriteError> {
        let nameoff = self.name_offset(name)?;
        self.token(PROP)?;
        self.put(&((pairs.len() * 16) as u32).to_be_bytes())?;
        self.put(&nameoff.to_be_bytes())?;
        for (a, s) in pairs {
            self.put(&a.to_be_bytes())?;
            self.put(&s.to_be_bytes())?;
        }
        Ok(())
    }

    /// Closes the tree and writes the header; returns the blob's total size.
    pub fn finish(mut self) -> Result<usize, WriteError> {
        if self.depth != 0 {
            return Err(WriteError::Unbalanced);
        }
        self.token(END)?;
        let struct_size = self.pos - HEADER - RESERVE;
        let strings_off = self.pos;
        let strings = self.strings;
        self.put(&strings[..self.strings_len])?;
        let total = self.pos;
        let header: [u32; 10] = [
            MAGIC,
            total as u32,
            (HEADER + RESERVE) as u32, // off_dt_struct
            strings_off as u32,
            HEADER as u32, // off_mem_rsvmap
            17,            // version
            16,            // last compatible version
            0,             // boot_cpuid_phys
            self.strings_len as u32,
            struct_size as u32,
        ];
        for (i, w) in header.iter().enumerate() {
            self.buf[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
        }
        Ok(total)
    }
}

/// A node name or property string formatted without a heap (`memory@40000000`,
/// `cpu@1`): `format` cuts at 64 bytes, on a character boundary.
pub struct Name {
    buf: [u8; 64],
    len: usize,
}

impl Default for Name {
    fn default() -> Self {
        Self::new()
    }
}

impl Name {
    pub const fn new() -> Self {
        Name { buf: [0; 64], len: 0 }
    }

    /// `args` as a string.
    pub fn format(&mut self, args: core::fmt::Arguments) -> &str {
        use core::fmt::Write;
        self.len = 0;
        let _ = self.write_fmt(args);
        match core::str::from_utf8(&self.buf[..self.len]) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&self.buf[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl core::fmt::Write for Name {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_tree_parses_back() {
        let mut buf = [0u8; 1024];
        let mut w = FdtWriter::new(&mut buf).unwrap();
        w.begin_node("").unwrap();
        w.prop_u32("#address-cells", 2).unwrap();
        w.prop_u32("#size-cells", 2).unwrap();
        w.prop_strs("compatible", &["bulkhead,partition", "linux,dummy-virt"]).unwrap();
        w.begin_node("memory@40000000").unwrap();
        w.prop_str("device_type", "memory").unwrap();
        w.prop_reg64("reg", &[(0x4000_0000, 0x100_0000)]).unwrap();
        w.end_node().unwrap();
        w.begin_node("chosen").unwrap();
        w.prop_str("stdout-path", "/pl011@9000000").unwrap();
        w.prop_empty("bulkhead,empty").unwrap();
        w.end_node().unwrap();
        w.end_node().unwrap();
        let len = w.finish().unwrap();

        let fdt = fdt::Fdt::new(&buf[..len]).expect("valid FDT");
        let mem = fdt.memory();
        let region = mem.regions().next().unwrap();
        assert_eq!(region.starting_address as usize, 0x4000_0000);
        assert_eq!(region.size, Some(0x100_0000));
        let chosen = fdt.find_node("/chosen").unwrap();
        assert_eq!(chosen.property("stdout-path").and_then(|p| p.as_str()), Some("/pl011@9000000"));
        let root = fdt.find_node("/").unwrap();
        let compat: Vec<_> = root.compatible().unwrap().all().collect();
        assert_eq!(compat, ["bulkhead,partition", "linux,dummy-virt"]);
        assert!(fdt.find_node("/chosen").unwrap().property("bulkhead,empty").is_some());
    }

    #[test]
    fn too_small_and_unbalanced_are_errors() {
        let mut tiny = [0u8; 60];
        let mut w = FdtWriter::new(&mut tiny).unwrap();
        assert_eq!(w.begin_node("a-rather-long-node-name-that-does-not-fit"), Err(WriteError::Full));
        let mut buf = [0u8; 256];
        let mut w = FdtWriter::new(&mut buf).unwrap();
        assert_eq!(w.end_node(), Err(WriteError::Unbalanced));
        w.begin_node("").unwrap();
        assert_eq!(w.finish(), Err(WriteError::Unbalanced));
    }

    #[test]
    fn names_are_formatted_and_cut_on_a_character_boundary() {
        let mut n = Name::new();
        assert_eq!(n.format(format_args!("memory@{:x}", 0x4000_0000u64)), "memory@40000000");
        let long = "é".repeat(40); // 80 bytes
        assert_eq!(n.format(format_args!("{long}")).len(), 64);
    }
}
