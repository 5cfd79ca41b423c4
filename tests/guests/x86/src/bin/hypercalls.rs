//! Hypercalls: exercises bulkhead's ABI from a partition (this guest only makes sense
//! under bulkhead: natively VMCALL is undefined). Prints what each call returns, including
//! refusals of bad arguments.
#![no_std]
#![no_main]

use guests_x86::{println, vmcall};

const VERSION: u64 = 0xC600_0000;
const CONSOLE_WRITE: u64 = 0xC600_0001;
const PARTITION_INFO: u64 = 0xC600_0002;
const STATS: u64 = 0xC600_0003;

static GREETING: &[u8] = b"hello through CONSOLE_WRITE\n";

#[no_mangle]
fn main() {
    let v = vmcall(VERSION, [0; 4]);
    println!("version: status {} abi {}.{}", v[0] as i64, v[1] >> 16, v[1] & 0xffff);
    let info = vmcall(PARTITION_INFO, [0; 4]);
    println!("info: status {} id {} vcpus {} ram {:#x}", info[0] as i64, info[1], info[2], info[3]);
    let w = vmcall(CONSOLE_WRITE, [GREETING.as_ptr() as u64, GREETING.len() as u64, 0, 0]);
    println!("console_write: status {} wrote {}", w[0] as i64, w[1]);
    // Our RAM is guest-physical 0..16 MiB: 0x0300_0000 is nobody's to us.
    let bad = vmcall(CONSOLE_WRITE, [0x0300_0000, 16, 0, 0]);
    println!("console_write outside own memory: status {}", bad[0] as i64);
    let wrap = vmcall(CONSOLE_WRITE, [u64::MAX - 7, 16, 0, 0]);
    println!("console_write wrapping: status {}", wrap[0] as i64);
    let big = vmcall(CONSOLE_WRITE, [GREETING.as_ptr() as u64, 4096, 0, 0]);
    println!("console_write too long: status {}", big[0] as i64);
    let s = vmcall(STATS, [0; 4]);
    println!("stats: status {} hypercalls>=6 {}", s[0] as i64, s[2] >= 6);
    println!("hypercalls: done");
}
