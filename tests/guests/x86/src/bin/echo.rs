//! Echo: reads one line from its console (COM1) and prints it back. Proves that what the
//! operator types reaches the partition with the input focus, and only that one.
#![no_std]
#![no_main]

use guests_x86::{getc, println};

#[no_mangle]
fn main() {
    println!("echo: ready");
    let mut line = [0u8; 64];
    let mut n = 0;
    loop {
        match getc() {
            Some(b'\r' | b'\n') => break,
            Some(b) if n < line.len() => {
                line[n] = b;
                n += 1;
            }
            Some(_) => {}
            None => core::hint::spin_loop(),
        }
    }
    println!("echo: got {}", core::str::from_utf8(&line[..n]).unwrap_or("(not UTF-8)"));
}
