//! Decoding the guest load or store that touched an emulated device.
//!
//! The shadow TLB never maps a guest-physical page outside the partition's memory map, so
//! an access to an emulated device (the console UART, the power-off GPIO) or to nothing
//! arrives as a data TLB miss; the trap path fetches the instruction at SRR0 and decodes it
//! here into width, direction, register and base update. Only the integer loads and stores
//! a driver uses for device registers are accepted (byte, half, word; zero or sign
//! extending; indexed; with update). Byte-reversed, multiple, string, atomic and SPE
//! accesses are not: they come back `None` and the access is a fault for the partition's
//! policy (a device register is never accessed that way by a sane driver).
//!
//! Encodings: PowerPC User ISA (Book I) D-form (primary opcodes 32..45) and X-form
//! (primary 31 with the extended opcodes below); IBM bit numbering, bit 0 the MSB.

use hv::exit::Width;

/// A decoded device access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub width: Width,
    pub store: bool,
    /// Register loaded (load) or stored (store).
    pub rt: u8,
    /// `lha`/`lhax`: sign-extend the halfword.
    pub sign_extend: bool,
    /// Update forms write the effective address back to RA (RA != 0, and RA != RT for
    /// loads: otherwise an invalid form, refused).
    pub update_ra: Option<u8>,
}

const OP_X: u32 = 31;

/// D-form opcodes: (primary, width, store, sign-extend, update).
const D_FORMS: [(u32, Width, bool, bool, bool); 14] = [
    (32, Width::Word, false, false, false), // lwz
    (33, Width::Word, false, false, true),  // lwzu
    (34, Width::Byte, false, false, false), // lbz
    (35, Width::Byte, false, false, true),  // lbzu
    (36, Width::Word, true, false, false),  // stw
    (37, Width::Word, true, false, true),   // stwu
    (38, Width::Byte, true, false, false),  // stb
    (39, Width::Byte, true, false, true),   // stbu
    (40, Width::Half, false, false, false), // lhz
    (41, Width::Half, false, false, true),  // lhzu
    (42, Width::Half, false, true, false),  // lha
    (43, Width::Half, false, true, true),   // lhau
    (44, Width::Half, true, false, false),  // sth
    (45, Width::Half, true, false, true),   // sthu
];

/// X-form extended opcodes (primary 31), same tuple layout.
const X_FORMS: [(u32, Width, bool, bool, bool); 14] = [
    (23, Width::Word, false, false, false),  // lwzx
    (55, Width::Word, false, false, true),   // lwzux
    (87, Width::Byte, false, false, false),  // lbzx
    (119, Width::Byte, false, false, true),  // lbzux
    (151, Width::Word, true, false, false),  // stwx
    (183, Width::Word, true, false, true),   // stwux
    (215, Width::Byte, true, false, false),  // stbx
    (247, Width::Byte, true, false, true),   // stbux
    (279, Width::Half, false, false, false), // lhzx
    (311, Width::Half, false, false, true),  // lhzux
    (343, Width::Half, false, true, false),  // lhax
    (375, Width::Half, false, true, true),   // lhaux
    (407, Width::Half, true, false, false),  // sthx
    (439, Width::Half, true, false, true),   // sthux
];

/// X-form: bit 31 (Rc) is reserved for loads and stores.
const X_RESERVED: u32 = 1;

/// The access `word` makes, if it is one of the accepted loads and stores.
pub fn decode(word: u32) -> Option<Access> {
    let primary = word >> 26;
    let rt = ((word >> 21) & 0x1f) as u8;
    let ra = ((word >> 16) & 0x1f) as u8;
    let (width, store, sign_extend, update) = if primary == OP_X {
        if word & X_RESERVED != 0 {
            return None;
        }
        let xo = (word >> 1) & 0x3ff;
        let &(_, w, s, x, u) = X_FORMS.iter().find(|f| f.0 == xo)?;
        (w, s, x, u)
    } else {
        let &(_, w, s, x, u) = D_FORMS.iter().find(|f| f.0 == primary)?;
        (w, s, x, u)
    };
    // Update forms with RA = 0, or loads with RA = RT, are invalid (Book I 3.3.2).
    if update && (ra == 0 || (!store && ra == rt)) {
        return None;
    }
    Some(Access { width, store, rt, sign_extend, update_ra: update.then_some(ra) })
}

/// The register value a load of `width` bytes leaves, from the device's `value`.
pub fn load_result(width: Width, sign_extend: bool, value: u64) -> u32 {
    match (width, sign_extend) {
        (Width::Byte, _) => value as u8 as u32,
        (Width::Half, false) => value as u16 as u32,
        (Width::Half, true) => value as u16 as i16 as i32 as u32,
        (Width::Word | Width::Double, _) => value as u32,
    }
}

/// The bytes a store of `width` sends, from the register.
pub fn store_value(width: Width, reg: u32) -> u64 {
    match width {
        Width::Byte => u64::from(reg as u8),
        Width::Half => u64::from(reg as u16),
        Width::Word | Width::Double => u64::from(reg),
    }
}

#[cfg(test)]
mod tests;
