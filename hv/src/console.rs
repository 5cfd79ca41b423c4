//! The physical console shared by all partitions: each partition's output is collected
//! per line and written whole, prefixed with the partition's name, so that lines from
//! partitions running on different CPUs never interleave mid-line.
//!
//! A partition that writes without newlines cannot hold the console: its line is flushed
//! when the buffer fills (and marked as continued).
//!
//! A prompt (a partial line the partition waits behind for input) is shown with
//! [`ConsoleMux::show_partial`]: the text so far goes out without a newline and the line
//! continues on the terminal as more arrives. If another partition's line comes first,
//! the shown line is ended there and its rest follows later under its own prefix.

use crate::config::MAX_PARTITIONS;

/// Longest line kept before it is flushed anyway.
pub const LINE: usize = 120;

#[derive(Clone, Copy)]
struct Line {
    buf: [u8; LINE],
    len: usize,
    /// `buf[..shown]` is already on the terminal (prefix included).
    shown: usize,
    /// The partition wrote since it last polled for input (see `prompt_if_waiting`).
    wrote: bool,
}

impl Line {
    const EMPTY: Line = Line { buf: [0; LINE], len: 0, shown: 0, wrote: false };

    /// The terminal line was ended under this one: forget what it showed.
    fn cut(&mut self) {
        self.buf.copy_within(self.shown..self.len, 0);
        self.len -= self.shown;
        self.shown = 0;
    }
}

/// Line buffers for every partition. Callers serialise access (one lock around the mux and
/// the physical UART it writes to).
pub struct ConsoleMux {
    lines: [Line; MAX_PARTITIONS],
    /// The partition whose partial line is on the terminal, unfinished.
    open: Option<usize>,
}

impl Default for ConsoleMux {
    fn default() -> Self {
        Self::new()
    }
}

impl ConsoleMux {
    pub const fn new() -> Self {
        ConsoleMux { lines: [Line::EMPTY; MAX_PARTITIONS], open: None }
    }

    /// Adds bytes from partition `id` (named `name`), writing each completed line to `out`
    /// as `[name] text\n`. Control characters other than tab are shown as `.`, so a guest
    /// cannot send escape sequences to the operator's terminal. Unknown ids are ignored.
    #[inline(never)] // called from boards' consoles: one copy, in hv
    pub fn write(&mut self, id: u32, name: &str, bytes: &[u8], out: &mut dyn FnMut(&[u8])) {
        let i = id as usize;
        if i >= self.lines.len() {
            return;
        }
        self.lines[i].wrote = true;
        for &b in bytes {
            match b {
                b'\n' => self.flush(i, name, out, false),
                b'\r' => {}
                _ => {
                    if self.lines[i].len == LINE {
                        self.flush(i, name, out, true);
                    }
                    let line = &mut self.lines[i];
                    line.buf[line.len] = if b == b'\t' || (0x20..0x7f).contains(&b) { b } else { b'.' };
                    line.len += 1;
                }
            }
        }
    }

    /// Partition `id` polled for input and nothing was typed. A guest reads its UART's
    /// status before every byte it sends, so one poll is not yet a wait for input; a second
    /// with nothing written in between is (a prompt): then its unfinished line is shown.
    /// Showing it earlier would let another partition's line cut it in two.
    #[inline(never)] // called from boards' consoles: one copy, in hv
    pub fn prompt_if_waiting(&mut self, id: u32, name: &str, out: &mut dyn FnMut(&[u8])) {
        let Some(line) = self.lines.get_mut(id as usize) else { return };
        let waiting = !line.wrote;
        line.wrote = false;
        if waiting {
            self.show_partial(id, name, out);
        }
    }

    /// Partition `id`'s line has text not on the terminal yet, and no newline has ended it:
    /// if the partition now waits for input, that text is its prompt (boards that are not
    /// told when a partition waits show it after a while: [`ConsoleMux::show_partial`]).
    pub fn unshown(&self, id: u32) -> bool {
        self.lines.get(id as usize).is_some_and(|l| l.len > l.shown)
    }

    /// Shows partition `id`'s unfinished line as it is now (a prompt), without ending it.
    pub fn show_partial(&mut self, id: u32, name: &str, out: &mut dyn FnMut(&[u8])) {
        if !self.unshown(id) {
            return;
        }
        let i = id as usize;
        self.take_terminal(i, out);
        let line = &mut self.lines[i];
        if line.shown == 0 {
            Self::prefix(name, out);
        }
        out(&line.buf[line.shown..line.len]);
        line.shown = line.len;
        self.open = Some(i);
    }

    /// Ends partition `id`'s unfinished line, if it has one (its output stops there: it is
    /// restarting), so that what it writes next starts a line of its own.
    pub fn end_line(&mut self, id: u32, name: &str, out: &mut dyn FnMut(&[u8])) {
        let i = id as usize;
        if self.lines.get(i).is_some_and(|l| l.len > 0) {
            self.flush(i, name, out, false);
        }
    }

    /// Ends a shown partial line before someone else (the hypervisor) writes a line.
    pub fn end_partial(&mut self, out: &mut dyn FnMut(&[u8])) {
        self.take_terminal(usize::MAX, out);
    }

    /// Ends another partition's shown partial line before partition `i` writes.
    fn take_terminal(&mut self, i: usize, out: &mut dyn FnMut(&[u8])) {
        if let Some(j) = self.open.filter(|&j| j != i) {
            out(b"\n");
            self.lines[j].cut();
            self.open = None;
        }
    }

    fn prefix(name: &str, out: &mut dyn FnMut(&[u8])) {
        out(b"[");
        out(name.as_bytes());
        out(b"] ");
    }

    fn flush(&mut self, i: usize, name: &str, out: &mut dyn FnMut(&[u8]), continued: bool) {
        self.take_terminal(i, out);
        let line = &mut self.lines[i];
        if line.shown == 0 {
            Self::prefix(name, out);
        }
        out(&line.buf[line.shown..line.len]);
        out(if continued { b"\\\n" } else { b"\n" });
        line.len = 0;
        line.shown = 0;
        self.open = None;
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
    fn prompts_are_shown_and_continued_in_place() {
        let mut mux = ConsoleMux::new();
        assert_eq!(collect(&mut mux, 0, "u", b"=> "), "");
        let mut out = Vec::new();
        mux.show_partial(0, "u", &mut |b| out.extend_from_slice(b));
        mux.show_partial(0, "u", &mut |b| out.extend_from_slice(b));
        assert_eq!(String::from_utf8(out).unwrap(), "[u] => ", "shown once");
        assert_eq!(collect(&mut mux, 0, "u", b"ver"), "");
        let mut out = Vec::new();
        mux.show_partial(0, "u", &mut |b| out.extend_from_slice(b));
        assert_eq!(String::from_utf8(out).unwrap(), "ver", "the echo continues the line");
        assert_eq!(collect(&mut mux, 0, "u", b"sion\r\n"), "sion\n");
        assert_eq!(collect(&mut mux, 0, "u", b"next\n"), "[u] next\n");
    }

    #[test]
    fn another_partitions_line_ends_a_shown_prompt() {
        let mut mux = ConsoleMux::new();
        collect(&mut mux, 0, "u", b"=> ");
        mux.show_partial(0, "u", &mut |_| {});
        assert_eq!(collect(&mut mux, 1, "t", b"tick\n"), "\n[t] tick\n");
        assert_eq!(collect(&mut mux, 0, "u", b"ls\n"), "[u] ls\n", "the rest under its own prefix");
        collect(&mut mux, 0, "u", b"=> ");
        mux.show_partial(0, "u", &mut |_| {});
        let mut out = Vec::new();
        mux.end_partial(&mut |b| out.extend_from_slice(b));
        mux.end_partial(&mut |b| out.extend_from_slice(b));
        assert_eq!(out, b"\n", "ended once, for a hypervisor message");
    }

    #[test]
    fn a_restarting_partitions_unfinished_line_is_ended() {
        let mut mux = ConsoleMux::new();
        collect(&mut mux, 0, "r", b"CPU_ON: suc");
        let mut out = Vec::new();
        mux.end_line(0, "r", &mut |b| out.extend_from_slice(b));
        mux.end_line(0, "r", &mut |b| out.extend_from_slice(b));
        assert_eq!(String::from_utf8(out).unwrap(), "[r] CPU_ON: suc\n", "once; nothing without a line");
        assert_eq!(collect(&mut mux, 0, "r", b"boot 2\n"), "[r] boot 2\n");
        mux.end_line(MAX_PARTITIONS as u32, "x", &mut |_| panic!("no such partition"));
    }

    #[test]
    fn an_unfinished_line_is_unshown_until_shown_or_ended() {
        let mut mux = ConsoleMux::new();
        assert!(!mux.unshown(0), "nothing written");
        collect(&mut mux, 0, "u", b"/ # ");
        assert!(mux.unshown(0));
        assert!(!mux.unshown(1), "another partition's line is its own");
        mux.show_partial(0, "u", &mut |_| {});
        assert!(!mux.unshown(0), "on the terminal");
        collect(&mut mux, 0, "u", b"ec");
        assert!(mux.unshown(0), "the echo of what was typed");
        collect(&mut mux, 0, "u", b"ho\n");
        assert!(!mux.unshown(0), "a finished line is written at once");
        assert!(!mux.unshown(MAX_PARTITIONS as u32));
    }

    #[test]
    fn unknown_partition_is_ignored() {
        let mut mux = ConsoleMux::new();
        assert_eq!(collect(&mut mux, MAX_PARTITIONS as u32, "x", b"hi\n"), "");
        mux.show_partial(MAX_PARTITIONS as u32, "x", &mut |_| panic!("nothing to show"));
    }

    #[test]
    fn a_prompt_shows_only_when_the_partition_waits() {
        let mut mux = ConsoleMux::new();
        assert_eq!(collect(&mut mux, 0, "u", b"=> "), "");
        let mut out = Vec::new();
        // The poll right after writing is the guest checking its transmitter: not a wait.
        mux.prompt_if_waiting(0, "u", &mut |b| out.extend_from_slice(b));
        assert!(out.is_empty());
        mux.prompt_if_waiting(0, "u", &mut |b| out.extend_from_slice(b));
        assert_eq!(String::from_utf8(out).unwrap(), "[u] => ");
        assert_eq!(collect(&mut mux, 0, "u", b"ls\n"), "ls\n", "the shown line continues in place");
    }
}
