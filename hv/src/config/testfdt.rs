//! Test support: a tiny in-memory device tree that serialises to a DTB, so the
//! configuration tests need no dtc. `board()` is a qemu-virt-like board tree; `good()`
//! adds a valid two-partition configuration that tests then break one property at a time.

use std::string::{String, ToString};
use std::vec::Vec;

#[derive(Clone, Debug, Default)]
pub struct Node {
    pub name: String,
    pub props: Vec<(String, Vec<u8>)>,
    pub children: Vec<Node>,
}

pub fn u32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|c| c.to_be_bytes()).collect()
}
pub fn s(v: &str) -> Vec<u8> {
    let mut b = v.as_bytes().to_vec();
    b.push(0);
    b
}
pub fn strs(v: &[&str]) -> Vec<u8> {
    v.iter().flat_map(|x| s(x)).collect()
}
/// A 2+2-cell `<address size>`.
pub fn r64(base: u64, size: u64) -> Vec<u8> {
    u32s(&[(base >> 32) as u32, base as u32, (size >> 32) as u32, size as u32])
}
/// A 2-cell address.
pub fn a64(a: u64) -> Vec<u8> {
    u32s(&[(a >> 32) as u32, a as u32])
}

impl Node {
    pub fn new(name: &str) -> Self {
        Node { name: name.to_string(), ..Default::default() }
    }
    pub fn p(mut self, name: &str, v: Vec<u8>) -> Self {
        self.props.push((name.to_string(), v));
        self
    }
    pub fn c(mut self, child: Node) -> Self {
        self.children.push(child);
        self
    }
    /// The node at `path` (relative to this one, `/`-separated), created if missing.
    pub fn at(&mut self, path: &str) -> &mut Node {
        let mut n = self;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            let i = match n.children.iter().position(|c| c.name == comp) {
                Some(i) => i,
                None => {
                    n.children.push(Node::new(comp));
                    n.children.len() - 1
                }
            };
            n = &mut n.children[i];
        }
        n
    }
    /// Sets (replaces) a property of the node at `path`.
    pub fn set(&mut self, path: &str, prop: &str, v: Vec<u8>) -> &mut Self {
        let n = self.at(path);
        n.props.retain(|(k, _)| k != prop);
        n.props.push((prop.to_string(), v));
        self
    }
    pub fn unset(&mut self, path: &str, prop: &str) -> &mut Self {
        self.at(path).props.retain(|(k, _)| k != prop);
        self
    }
    /// Removes the node at `path`.
    pub fn remove(&mut self, path: &str) -> &mut Self {
        let (parent, name) = path.rsplit_once('/').unwrap();
        self.at(parent).children.retain(|c| c.name != name);
        self
    }
    pub fn add(&mut self, parent: &str, child: Node) -> &mut Self {
        self.at(parent).children.push(child);
        self
    }

    /// Serialises the tree (this node is the root) to a version-17 DTB.
    pub fn dtb(&self) -> Vec<u8> {
        let mut st = Vec::new();
        let mut strings: Vec<u8> = Vec::new();
        self.emit(&mut st, &mut strings);
        st.extend(9u32.to_be_bytes()); // FDT_END
        let off_rsv = 40usize;
        let off_struct = off_rsv + 16;
        let off_strings = off_struct + st.len();
        let total = off_strings + strings.len();
        let mut out = Vec::new();
        for v in [0xd00d_feed, total, off_struct, off_strings, off_rsv, 17, 16, 0, strings.len(), st.len()] {
            out.extend((v as u32).to_be_bytes());
        }
        out.extend([0u8; 16]);
        out.extend(st);
        out.extend(strings);
        out
    }

    fn emit(&self, st: &mut Vec<u8>, strings: &mut Vec<u8>) {
        st.extend(1u32.to_be_bytes());
        st.extend(self.name.as_bytes());
        st.push(0);
        pad(st);
        for (k, v) in &self.props {
            let off = find_or_add(strings, k);
            st.extend(3u32.to_be_bytes());
            st.extend((v.len() as u32).to_be_bytes());
            st.extend((off as u32).to_be_bytes());
            st.extend(v);
            pad(st);
        }
        for c in &self.children {
            c.emit(st, strings);
        }
        st.extend(2u32.to_be_bytes());
    }
}

fn pad(v: &mut Vec<u8>) {
    while v.len() % 4 != 0 {
        v.push(0);
    }
}

fn find_or_add(strings: &mut Vec<u8>, k: &str) -> usize {
    let off = strings.len();
    strings.extend(k.as_bytes());
    strings.push(0);
    off
}

/// A qemu-virt-like board: 1 GiB at 0x40000000, 4 CPUs, GICv3, pl011 (the hypervisor's
/// console), pl061, a simple-bus with a translated UART, hypervisor at 0x40000000+16 MiB.
pub fn board() -> Node {
    let cpus = (0..4).fold(
        Node::new("cpus").p("#address-cells", u32s(&[1])).p("#size-cells", u32s(&[0])),
        |n, i| n.c(Node::new(&format!("cpu@{i}")).p("device_type", s("cpu")).p("reg", u32s(&[i]))),
    );
    Node::new("")
        .p("#address-cells", u32s(&[2]))
        .p("#size-cells", u32s(&[2]))
        .p("interrupt-parent", u32s(&[1]))
        .c(Node::new("memory@40000000").p("device_type", s("memory")).p("reg", r64(0x4000_0000, 0x4000_0000)))
        .c(cpus)
        .c(Node::new("intc@8000000")
            .p("compatible", s("arm,gic-v3"))
            .p("#interrupt-cells", u32s(&[3]))
            .p("interrupt-controller", vec![])
            .p("phandle", u32s(&[1])))
        .c(Node::new("pl011@9000000").p("reg", r64(0x900_0000, 0x1000)).p("interrupts", u32s(&[0, 1, 4])))
        .c(Node::new("pl061@9030000").p("reg", r64(0x903_0000, 0x1000)).p("interrupts", u32s(&[0, 7, 4])))
        .c(Node::new("gpio-twin@9040000").p("reg", r64(0x904_0000, 0x1000)).p("interrupts", u32s(&[0, 7, 4])))
        .c(Node::new("nothing@0").p("compatible", s("none")))
        .c(Node::new("soc")
            .p("#address-cells", u32s(&[1]))
            .p("#size-cells", u32s(&[1]))
            .p("ranges", u32s(&[0, 0, 0xa00_0000, 0x10_0000]))
            .c(Node::new("serial@4500").p("reg", u32s(&[0x4500, 0x100])).p("interrupts", u32s(&[1, 2, 4]))))
        .c(Node::new("hypervisor")
            .p("compatible", s("bulkhead,hypervisor"))
            .p("reg", r64(0x4000_0000, 0x100_0000))
            .p("bulkhead,console", s("/pl011@9000000"))
            .c(Node::new("partitions").p("#address-cells", u32s(&[1])).p("#size-cells", u32s(&[0])))
            .c(Node::new("shared-memory").p("#address-cells", u32s(&[2])).p("#size-cells", u32s(&[2]))))
}

pub const P0: &str = "hypervisor/partitions/partition@0";
pub const P1: &str = "hypervisor/partitions/partition@1";

pub fn partition(id: u32, label: &str, cpu: u32, host: u64) -> Node {
    Node::new(&format!("partition@{id}"))
        .p("compatible", s("bulkhead,partition"))
        .p("reg", u32s(&[id]))
        .p("label", s(label))
        .p("#address-cells", u32s(&[2]))
        .p("#size-cells", u32s(&[2]))
        .p("bulkhead,cpus", u32s(&[cpu]))
        .c(Node::new(&format!("memory@{host:x}")).p("reg", r64(host, 0x100_0000)).p("bulkhead,guest-address", a64(0x4000_0000)))
}

/// `board()` plus two valid partitions, a passthrough device, an image and shared memory.
pub fn good() -> Node {
    let mut t = board();
    let p0 = partition(0, "ticker", 1, 0x4800_0000).p("bulkhead,devices", strs(&["/pl061@9030000"])).c(Node::new("image")
        .p("bulkhead,file", s("ticker.bin"))
        .p("bulkhead,format", s("raw"))
        .p("bulkhead,load-address", a64(0x4008_0000))
        .p("bulkhead,entry", a64(0x4008_0000)));
    let p1 = partition(1, "echo", 2, 0x4900_0000).p("bulkhead,fault-policy", s("restart")).p("bulkhead,console", s("none"));
    t.add("hypervisor/partitions", p0).add("hypervisor/partitions", p1);
    t.add(
        "hypervisor/shared-memory",
        Node::new("region@4f000000").p("label", s("ipc")).p("reg", r64(0x4f00_0000, 0x1000)).p("bulkhead,partitions", u32s(&[0, 1])),
    );
    t
}
