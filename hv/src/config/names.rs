//! Bookkeeping shared by parsing and checking: where errors go ([`Sink`]), the node names
//! of what entered the model ([`Names`], for messages), and the canonical order.

use heapless::{String, Vec};

use super::error::{ConfigError, ErrorKind};
use super::model::*;

/// Node names (not paths) of what went into the model, for error messages in `check`.
pub(crate) type Name = String<32>;

pub(crate) struct PartNames {
    pub node: Name,
    pub memory: Vec<Name, MAX_REGIONS>,
}

pub(crate) struct Names {
    pub parts: Vec<PartNames, MAX_PARTITIONS>,
    pub shared: Vec<Name, MAX_SHARED>,
    /// The walk got as far as `/hypervisor` (otherwise there is nothing to check).
    pub reached_partitions: bool,
}

impl Names {
    pub const fn new() -> Self {
        Names { parts: Vec::new(), shared: Vec::new(), reached_partitions: false }
    }
}

pub(crate) fn name_of(s: &str) -> Name {
    let mut n = Name::new();
    for c in s.chars() {
        if n.push(c).is_err() {
            break;
        }
    }
    n
}

/// Where errors go, and how many there were.
pub(crate) struct Sink<'r> {
    pub report: &'r mut dyn FnMut(&ConfigError),
    pub errors: usize,
}

impl Sink<'_> {
    pub fn err(&mut self, node: &str, property: &'static str, kind: ErrorKind) {
        self.errors += 1;
        (self.report)(&ConfigError::new(node, property, kind));
    }
}

/// Puts partitions in id order, and regions (partition and shared) in address order.
///
/// Why: `fdtoverlay` inserts nodes in reverse order, so blob order depends on how the tree
/// was built. Sorting makes the model, the boot table and the error messages ("X overlaps
/// Y" is reported on the later of the two) the same however the tree was assembled.
pub(crate) fn normalize(cfg: &mut Config, names: &mut Names) {
    // Insertion sorts: at most 8 elements each, no allocation, stable.
    let n = cfg.partitions.len().min(names.parts.len());
    for i in 1..n {
        let mut j = i;
        while j > 0
            && (cfg.partitions[j - 1].id, names.parts[j - 1].node.as_str()) > (cfg.partitions[j].id, names.parts[j].node.as_str())
        {
            cfg.partitions.swap(j - 1, j);
            names.parts.swap(j - 1, j);
            j -= 1;
        }
    }
    for (p, pn) in cfg.partitions.iter_mut().zip(names.parts.iter_mut()) {
        let n = p.memory.len().min(pn.memory.len());
        for i in 1..n {
            let mut j = i;
            while j > 0 && p.memory[j - 1].host.base > p.memory[j].host.base {
                p.memory.swap(j - 1, j);
                pn.memory.swap(j - 1, j);
                j -= 1;
            }
        }
    }
    let n = cfg.shared.len().min(names.shared.len());
    for i in 1..n {
        let mut j = i;
        while j > 0 && cfg.shared[j - 1].host.base > cfg.shared[j].host.base {
            cfg.shared.swap(j - 1, j);
            names.shared.swap(j - 1, j);
            j -= 1;
        }
    }
}

