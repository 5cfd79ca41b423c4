//! The platform's power-off control as a partition sees it.
//!
//! On QEMU's ppce500 (and boards wired like it) software powers off by driving GPIO pin 0
//! of the MPC8xxx GPIO block high as an output (Linux: gpio-poweroff). A partition's
//! guest does the same at the same guest-physical address; the hypervisor answers those
//! accesses here instead of giving the partition the real GPIO block: GPDAT written with
//! pin 0 set is a request to power the *partition* off (like PSCI SYSTEM_OFF on ARM).
//! Every other register reads as zero and ignores writes.

/// Size of the GPIO register block.
pub const SIZE: u64 = 0x1000;
/// GPDAT: the data register.
const GPDAT: u64 = 0x8;
/// Pin 0 (the MSB: Power numbering) is wired to power-off.
const POWER_OFF_PIN: u64 = 0x8000_0000;

/// What an access to the emulated GPIO block means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A load: this value.
    Value(u64),
    /// A store with no effect.
    Ignored,
    /// Power the partition off.
    PowerOff,
}

/// The emulated block at guest-physical `base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerOffGpio {
    pub base: u64,
}

impl PowerOffGpio {
    /// `None` if `gpa` is not in the block; otherwise what the access (`store` = value
    /// written) does.
    pub fn access(&self, gpa: u64, store: Option<u64>) -> Option<Outcome> {
        let offset = gpa.checked_sub(self.base).filter(|&o| o < SIZE)?;
        Some(match store {
            None => Outcome::Value(0),
            Some(v) if offset == GPDAT && v & POWER_OFF_PIN != 0 => Outcome::PowerOff,
            Some(_) => Outcome::Ignored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GPIO: PowerOffGpio = PowerOffGpio { base: 0xf_e00f_f000 };

    #[test]
    fn pin_zero_high_powers_off() {
        assert_eq!(GPIO.access(0xf_e00f_f008, Some(0x8000_0000)), Some(Outcome::PowerOff));
        assert_eq!(GPIO.access(0xf_e00f_f000, Some(0x8000_0000)), Some(Outcome::Ignored), "GPDIR");
        assert_eq!(GPIO.access(0xf_e00f_f008, Some(0x4000_0000)), Some(Outcome::Ignored), "pin 1");
        assert_eq!(GPIO.access(0xf_e00f_f008, None), Some(Outcome::Value(0)));
        assert_eq!(GPIO.access(0xf_e010_0000, Some(0x8000_0000)), None);
        assert_eq!(GPIO.access(0, None), None);
    }
}
