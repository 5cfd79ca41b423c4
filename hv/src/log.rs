//! Hypervisor logging with `defmt`: log frames are encoded on the target and decoded on
//! the host by the runner, which knows the ELF's format-string table.
//!
//! The core defines the one global logger; each board supplies the transport (a second
//! UART, semihosting, ...) with [`set_transport`]. Frames are rzcobs-encoded by defmt and
//! end with a zero byte, so the runner can split the byte stream without any other framing.
//! Console text for people never goes through here: that is the partitions' console.
//!
//! Only built with the `defmt` feature (the hypervisor images); host tests have no logger.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Writes encoded log bytes to the board's log channel. Must not log itself.
pub type Transport = fn(&[u8]);

static TRANSPORT: AtomicUsize = AtomicUsize::new(0);
static TAKEN: AtomicBool = AtomicBool::new(false);
static mut ENCODER: defmt::Encoder = defmt::Encoder::new();

/// Sends every later log frame to `transport`. Frames logged before this are dropped.
pub fn set_transport(transport: Transport) {
    TRANSPORT.store(transport as usize, Ordering::Release);
}

fn emit(bytes: &[u8]) {
    let t = TRANSPORT.load(Ordering::Acquire);
    if t != 0 {
        // SAFETY: TRANSPORT only ever holds 0 or a `Transport` stored by set_transport.
        let f: Transport = unsafe { core::mem::transmute::<usize, Transport>(t) };
        f(bytes);
    }
}

#[defmt::global_logger]
struct Logger;

// SAFETY: acquire/release bracket every frame; TAKEN makes the encoder single-owner. A
// logger re-entered from an exception handler on the same CPU drops that nested frame
// instead of corrupting the outer one.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        while TAKEN
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: TAKEN is held, so no one else touches ENCODER.
        unsafe { (*core::ptr::addr_of_mut!(ENCODER)).start_frame(emit) }
    }

    unsafe fn flush() {}

    unsafe fn release() {
        // SAFETY: the caller holds the logger (acquire was called), so TAKEN is ours.
        unsafe { (*core::ptr::addr_of_mut!(ENCODER)).end_frame(emit) };
        TAKEN.store(false, Ordering::Release);
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: as in release.
        unsafe { (*core::ptr::addr_of_mut!(ENCODER)).write(bytes, emit) }
    }
}

#[defmt::panic_handler]
fn defmt_panic() -> ! {
    // The board's #[panic_handler] reports panics on the console and stops the machine;
    // defmt::panic! routes there too.
    panic!()
}
