//! Hypercalls: exercises bulkhead's ABI from a partition (this guest only makes sense
//! under bulkhead). Prints what each call returns, including refusals of bad arguments.
#![no_std]
#![no_main]

use guests_aarch64::{hvc, println};

const VERSION: u64 = 0xC600_0000;
const CONSOLE_WRITE: u64 = 0xC600_0001;
const PARTITION_INFO: u64 = 0xC600_0002;
const STATS: u64 = 0xC600_0003;

static GREETING: &[u8] = b"hello through CONSOLE_WRITE\n";

#[no_mangle]
fn main() {
    let v = hvc(VERSION, [0; 4]);
    println!("version: status {} abi {}.{}", v[0] as i64, v[1] >> 16, v[1] & 0xffff);
    let info = hvc(PARTITION_INFO, [0; 4]);
    println!("info: status {} id {} vcpus {} ram {:#x}", info[0] as i64, info[1], info[2], info[3]);
    let w = hvc(CONSOLE_WRITE, [GREETING.as_ptr() as u64, GREETING.len() as u64, 0, 0]);
    println!("console_write: status {} wrote {}", w[0] as i64, w[1]);
    // Someone else's memory (the hypervisor's own at 0x4000_0000 is not in our map; our RAM
    // is guest 0x4000_0000.., so use an address far outside it).
    let bad = hvc(CONSOLE_WRITE, [0x4800_0000, 16, 0, 0]);
    println!("console_write outside own memory: status {}", bad[0] as i64);
    let wrap = hvc(CONSOLE_WRITE, [u64::MAX - 7, 16, 0, 0]);
    println!("console_write wrapping: status {}", wrap[0] as i64);
    let big = hvc(CONSOLE_WRITE, [GREETING.as_ptr() as u64, 4096, 0, 0]);
    println!("console_write too long: status {}", big[0] as i64);
    let s = hvc(STATS, [0; 4]);
    println!("stats: status {} hypercalls>=6 {}", s[0] as i64, s[2] >= 6);
    println!("hypercalls: done");
}
