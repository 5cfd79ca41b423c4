//! The physical console shared by all partitions: each partition's output is collected
//! per line and written whole, prefixed with the partition's name, so that lines from
//! partitions running on different CPUs never interleave mid-line.
//!
//! A partition that writes without newlines cannot hold the console: its line is flushed
//! when the buffer fills (and marked as continued).

use crate::config::MAX_PARTITIONS;

/// Longest line kept before it is flushed anyway.
pub const LINE: usize = 120;

#[derive(Clone, Copy)]
struct Line {
    buf: [u8; LINE],
    len: usize,
}

impl Line {
    const EMPTY: Line = Line { buf: [0; LINE], len: 0 };
}

/// Line buffers for every partition. Callers serialise access (one lock around the mux and
/// the physical UART it writes to).
pub struct ConsoleMux {
    lines: [Line; MAX_PARTITIONS],
}

impl Default for ConsoleMux {
    fn default() -> Self {
        Self::new()
    }
}

impl ConsoleMux {
    pub const fn new() -> Self {
        ConsoleMux { lines: [Line::EMPTY; MAX_PARTITIONS] }
    }

    /// Adds bytes from partition `id` (named `name`), writing each completed line to `out`
    /// as `[name] text\n`. Control characters other than tab are shown as `.`, so a guest
    /// cannot send escape sequences to the operator's terminal. Unknown ids are ignored.
    pub fn write(&mut self, id: u32, name: &str, bytes: &[u8], out: &mut dyn FnMut(&[u8])) {
        let Some(line) = self.lines.get_mut(id as usize) else { return };
        for &b in bytes {
            match b {
                b'\n' => Self::flush(line, name, out, false),
                b'\r' => {}
                _ => {
                    if line.len == LINE {
                        Self::flush(line, name, out, true);
                    }
                    line.buf[line.len] = if b == b'\t' || (0x20..0x7f).contains(&b) { b } else { b'.' };
                    line.len += 1;
                }
            }
        }
    }

    fn flush(line: &mut Line, name: &str, out: &mut dyn FnMut(&[u8]), continued: bool) {
        out(b"[");
        out(name.as_bytes());
        out(b"] ");
        out(&line.buf[..line.len]);
        out(if continued { b"\\\n" } else { b"\n" });
        line.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(mux: &mut ConsoleMux, id: u32, name: &str, bytes: &[u8]) -> String {
        let mut out = Vec::new();
        mux.write(id, name, bytes, &mut |b| out.extend_from_slice(b));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_are_prefixed_and_not_interleaved() {
        let mut mux = ConsoleMux::new();
        assert_eq!(collect(&mut mux, 0, "a", b"hel"), "");
        assert_eq!(collect(&mut mux, 1, "b", b"other\r\n"), "[b] other\n");
        assert_eq!(collect(&mut mux, 0, "a", b"lo\nx"), "[a] hello\n");
        assert_eq!(collect(&mut mux, 0, "a", b"\n"), "[a] x\n");
    }

    #[test]
    fn long_lines_are_split_and_marked() {
        let mut mux = ConsoleMux::new();
        let long = [b'z'; LINE + 5];
        let out = collect(&mut mux, 2, "c", &long);
        assert_eq!(out, format!("[c] {}\\\n", "z".repeat(LINE)));
        assert_eq!(collect(&mut mux, 2, "c", b"\n"), "[c] zzzzz\n");
    }

    #[test]
    fn control_characters_are_neutralised() {
        let mut mux = ConsoleMux::new();
        assert_eq!(collect(&mut mux, 0, "a", b"\x1b[2Jok\t!\n"), "[a] .[2Jok\t!\n");
    }

    #[test]
    fn unknown_partition_is_ignored() {
        let mut mux = ConsoleMux::new();
        assert_eq!(collect(&mut mux, MAX_PARTITIONS as u32, "x", b"hi\n"), "");
    }
}
