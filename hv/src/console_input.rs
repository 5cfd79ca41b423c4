//! The physical console's input, shared by all partitions: what the operator types goes to
//! the partition that has the input focus; a key sequence moves the focus.
//!
//! Key sequence: **Ctrl-A, then a partition id `0`-`7`** gives the input to that partition
//! (if it has an emulated console); **Ctrl-A Ctrl-A** types a literal Ctrl-A; Ctrl-A
//! followed by anything else is dropped. Bytes are queued per partition until its emulated
//! UART reads them, so the partition polling from another CPU never misses input and a
//! partition without the focus never sees a keystroke.

use heapless::Deque;

use crate::config::MAX_PARTITIONS;

/// The escape key: Ctrl-A.
pub const ESCAPE: u8 = 0x01;
/// Bytes kept for a partition that has not read them yet; more are dropped (like a UART
/// overrun).
pub const QUEUE: usize = 64;

/// What a typed byte did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Typed {
    /// Queued for partition `id`.
    For(u32),
    /// The focus moved to partition `id` (the board says so on the console).
    Focus(u32),
    /// Part of a key sequence, or refused (no such partition, queue full).
    Nothing,
}

pub struct InputRouter {
    focus: Option<u32>,
    escaped: bool,
    queues: [Deque<u8, QUEUE>; MAX_PARTITIONS],
}

impl Default for InputRouter {
    fn default() -> Self {
        Self::new()
    }
}

impl InputRouter {
    pub const fn new() -> Self {
        InputRouter { focus: None, escaped: false, queues: [const { Deque::new() }; MAX_PARTITIONS] }
    }

    /// The partition with the input focus.
    pub fn focus(&self) -> Option<u32> {
        self.focus
    }

    /// Gives the focus to `id` (at boot: the first partition with an emulated console).
    pub fn set_focus(&mut self, id: u32) {
        if (id as usize) < MAX_PARTITIONS {
            self.focus = Some(id);
        }
    }

    /// One byte typed on the physical console; `has_console(id)` says whether partition
    /// `id` exists and has an emulated console.
    #[inline(never)] // called from boards' consoles: one copy, in hv
    pub fn type_byte(&mut self, byte: u8, has_console: &dyn Fn(u32) -> bool) -> Typed {
        if self.escaped {
            self.escaped = false;
            if byte != ESCAPE {
                return match byte {
                    b'0'..=b'7' if has_console(u32::from(byte - b'0')) => {
                        let id = u32::from(byte - b'0');
                        self.focus = Some(id);
                        Typed::Focus(id)
                    }
                    _ => Typed::Nothing,
                };
            }
        } else if byte == ESCAPE {
            self.escaped = true;
            return Typed::Nothing;
        }
        let Some(id) = self.focus else { return Typed::Nothing };
        match self.queues.get_mut(id as usize).map(|q| q.push_back(byte)) {
            Some(Ok(())) => Typed::For(id),
            _ => Typed::Nothing,
        }
    }

    /// Moves up to `buf.len()` bytes typed for partition `id` into `buf`; how many.
    #[inline(never)] // called from boards' consoles: one copy, in hv
    pub fn take(&mut self, id: u32, buf: &mut [u8]) -> usize {
        let Some(q) = self.queues.get_mut(id as usize) else { return 0 };
        let mut n = 0;
        while n < buf.len() {
            let Some(b) = q.pop_front() else { break };
            buf[n] = b;
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consoles(id: u32) -> bool {
        id == 0 || id == 2
    }

    fn typed(r: &mut InputRouter, bytes: &[u8]) -> Vec<Typed> {
        bytes.iter().map(|&b| r.type_byte(b, &consoles)).collect()
    }

    #[test]
    fn input_goes_to_the_focus_only() {
        let mut r = InputRouter::new();
        assert_eq!(typed(&mut r, b"x"), [Typed::Nothing], "no focus yet");
        r.set_focus(0);
        assert_eq!(typed(&mut r, b"ls\r"), [Typed::For(0); 3]);
        let mut buf = [0u8; 8];
        assert_eq!(r.take(2, &mut buf), 0, "another partition sees nothing");
        assert_eq!(r.take(0, &mut buf[..2]), 2);
        assert_eq!(&buf[..2], b"ls");
        assert_eq!(r.take(0, &mut buf), 1);
        assert_eq!(buf[0], b'\r');
    }

    #[test]
    fn ctrl_a_digit_moves_the_focus() {
        let mut r = InputRouter::new();
        r.set_focus(0);
        assert_eq!(typed(&mut r, &[ESCAPE, b'2', b'a']), [Typed::Nothing, Typed::Focus(2), Typed::For(2)]);
        assert_eq!(r.focus(), Some(2));
        // No partition 1 with a console, no partition 9: the focus stays, the key is dropped.
        assert_eq!(typed(&mut r, &[ESCAPE, b'1', ESCAPE, b'9', ESCAPE, b'q']), [Typed::Nothing; 6]);
        assert_eq!(r.focus(), Some(2));
        // Ctrl-A Ctrl-A is a literal Ctrl-A for the focused partition.
        assert_eq!(typed(&mut r, &[ESCAPE, ESCAPE]), [Typed::Nothing, Typed::For(2)]);
        let mut buf = [0u8; 4];
        assert_eq!(r.take(2, &mut buf), 2);
        assert_eq!(&buf[..2], &[b'a', ESCAPE]);
    }

    #[test]
    fn a_full_queue_drops_bytes() {
        let mut r = InputRouter::new();
        r.set_focus(0);
        for _ in 0..QUEUE {
            assert_eq!(r.type_byte(b'z', &consoles), Typed::For(0));
        }
        assert_eq!(r.type_byte(b'z', &consoles), Typed::Nothing);
        let mut buf = [0u8; QUEUE + 8];
        assert_eq!(r.take(0, &mut buf), QUEUE);
    }
}
