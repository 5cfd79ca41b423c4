//! Decoder for the privileged instructions an e500v2 guest kernel executes.
//!
//! A guest kernel runs in problem state, so every supervisor-only instruction it issues
//! raises a Program interrupt with ESR[PPR] and lands here. The set is the e500v2's
//! privileged instructions (E500CORERM rev. 1, chapter 3 "Instruction Model" and the
//! instruction index): the return-from-interrupt family, MSR moves, SPR and PMR moves,
//! the TLB management instructions, `dcbi`, and the cache-locking APU instructions
//! (privileged unless MSR[UCLE]=1). `wait`, `msgsnd`, `mfdcr`/`mtdcr` and `rfdi` are not
//! e500v2 instructions and are rejected.
//!
//! Encodings (IBM bit numbering, bit 0 is the MSB): primary opcode in bits 0-5, the
//! extended opcode (XO) in bits 21-30, bit 31 is Rc. Every reserved field must be zero:
//! Book E leaves such "invalid forms" boundedly undefined and QEMU raises an illegal
//! instruction for them, so a word with a non-zero reserved field is rejected (the caller
//! reflects a Program interrupt with ESR[PIL]).

/// A decoded privileged (or potentially privileged) instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insn {
    /// Return from interrupt: PC = SRR0, MSR = SRR1.
    Rfi,
    /// Return from critical interrupt: CSRR0/CSRR1.
    Rfci,
    /// Return from machine check: MCSRR0/MCSRR1.
    Rfmci,
    Mfmsr { rd: u8 },
    Mtmsr { rs: u8 },
    /// MSR[EE] = rS[EE].
    Wrtee { rs: u8 },
    /// MSR[EE] = E.
    Wrteei { enable: bool },
    Mfspr { rd: u8, spr: u16 },
    Mtspr { rs: u8, spr: u16 },
    Mfpmr { rd: u8, pmr: u16 },
    Mtpmr { rs: u8, pmr: u16 },
    Tlbre,
    Tlbwe,
    /// EA = (RA|0) + RB; the e500 requires RA = 0 (E500CORERM 12.4.3).
    Tlbsx { ra: u8, rb: u8 },
    /// EA = (RA|0) + RB.
    Tlbivax { ra: u8, rb: u8 },
    Tlbsync,
    /// Data cache block invalidate, EA = (RA|0) + RB.
    Dcbi { ra: u8, rb: u8 },
    /// Cache-locking APU (`dcbtls`, `dcbtstls`, `dcblc`, `icbtls`, `icblc`).
    CacheLock { op: CacheLockOp, ct: u8, ra: u8, rb: u8 },
}

/// Which cache-locking instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheLockOp {
    /// Data cache block touch and lock set.
    DataTouchLock,
    /// Data cache block touch for store and lock set.
    DataTouchStoreLock,
    /// Data cache block lock clear.
    DataLockClear,
    /// Instruction cache block touch and lock set.
    InstructionTouchLock,
    /// Instruction cache block lock clear.
    InstructionLockClear,
}

impl CacheLockOp {
    /// Instruction-cache operations report ESR[ILK] instead of ESR[DLK].
    pub fn is_instruction_cache(self) -> bool {
        matches!(self, CacheLockOp::InstructionTouchLock | CacheLockOp::InstructionLockClear)
    }
}

impl Insn {
    /// Whether executing this in (virtual) problem state is a privileged-instruction
    /// exception. SPR/PMR moves depend on the register number (bit 0x10, Book E); the
    /// cache-locking instructions are allowed in problem state when MSR[UCLE]=1 and
    /// otherwise raise a DSI, not a Program interrupt, so they are not "privileged" here.
    pub fn is_privileged(&self) -> bool {
        match *self {
            Insn::Mfspr { spr, .. } | Insn::Mtspr { spr, .. } => crate::sprn::is_privileged(spr),
            Insn::Mfpmr { pmr, .. } | Insn::Mtpmr { pmr, .. } => crate::sprn::is_privileged(pmr),
            Insn::CacheLock { .. } => false,
            _ => true,
        }
    }
}

/// Primary opcode 19: XL-form branch/return instructions.
const OP_XL: u32 = 19;
/// Primary opcode 31: X/XFX-form instructions.
pub(crate) const OP_X: u32 = 31;

// Reserved-field masks (bits that must be zero), per instruction form.
/// XL-form with no operands: bits 6-20 and 31.
const RESERVED_NO_OPERANDS: u32 = 0x03FF_F801;
/// X-form with only rD/rS in bits 6-10: bits 11-20 and 31.
pub(crate) const RESERVED_RD_ONLY: u32 = 0x001F_F801;
/// `wrteei`: bits 6-15, 17-20 and 31 (E is bit 16).
pub(crate) const RESERVED_WRTEEI: u32 = 0x03FF_7801;
/// X-form with RA, RB: bits 6-10 and 31.
const RESERVED_RA_RB: u32 = 0x03E0_0001;
/// XFX-form and X-form with all three register fields: bit 31 only.
pub(crate) const RESERVED_RC: u32 = 0x0000_0001;

/// Register field in bits `start..start+5` (IBM numbering).
#[inline(always)]
pub(crate) fn field5(word: u32, start: u32) -> u8 {
    ((word >> (27 - start)) & 0x1F) as u8
}

/// The split 10-bit SPR/PMR field of `mfspr`/`mtspr`/`mfpmr`/`mtpmr`: bits 11-15 hold
/// the low five bits of the number and bits 16-20 the high five.
#[inline(always)]
pub(crate) fn split_register_number(word: u32) -> u16 {
    let low = (word >> 16) & 0x1F;
    let high = (word >> 11) & 0x1F;
    ((high << 5) | low) as u16
}

/// Which instruction a [`FORMS`] row recognises.
#[derive(Clone, Copy)]
enum Form {
    Rfi,
    Rfci,
    Rfmci,
    Mfmsr,
    Mtmsr,
    Wrtee,
    Wrteei,
    Mfspr,
    Mtspr,
    Mfpmr,
    Mtpmr,
    Tlbre,
    Tlbwe,
    Tlbsx,
    Tlbivax,
    Tlbsync,
    Dcbi,
    Lock(CacheLockOp),
}

/// Primary opcode and XO bits (with Rc, which every form here reserves).
const OPCODE_XO: u32 = 0xFC00_07FF;

/// Every instruction the decoder knows: the primary opcode, the extended opcode, and the
/// reserved fields that must be zero. A word is the row's instruction when
/// `word & (OPCODE_XO | reserved) == primary << 26 | xo << 1`.
const FORMS: [(u32, u32, u32, Form); 22] = [
    // Those the full emulator sees most first (the fast paths take the rest of the hot
    // ones): the rows are disjoint, their order only matters for speed.
    (OP_X, 978, RESERVED_NO_OPERANDS, Form::Tlbwe),
    (OP_X, 467, RESERVED_RC, Form::Mtspr),
    (OP_X, 339, RESERVED_RC, Form::Mfspr),
    (OP_XL, 50, RESERVED_NO_OPERANDS, Form::Rfi),
    (OP_X, 146, RESERVED_RD_ONLY, Form::Mtmsr),
    (OP_X, 163, RESERVED_WRTEEI, Form::Wrteei),
    (OP_X, 131, RESERVED_RD_ONLY, Form::Wrtee),
    (OP_X, 83, RESERVED_RD_ONLY, Form::Mfmsr),
    (OP_X, 786, RESERVED_RA_RB, Form::Tlbivax),
    (OP_X, 566, RESERVED_NO_OPERANDS, Form::Tlbsync),
    (OP_X, 914, RESERVED_RA_RB, Form::Tlbsx),
    (OP_X, 946, RESERVED_NO_OPERANDS, Form::Tlbre),
    (OP_XL, 51, RESERVED_NO_OPERANDS, Form::Rfci),
    (OP_XL, 38, RESERVED_NO_OPERANDS, Form::Rfmci),
    (OP_X, 334, RESERVED_RC, Form::Mfpmr),
    (OP_X, 462, RESERVED_RC, Form::Mtpmr),
    (OP_X, 470, RESERVED_RA_RB, Form::Dcbi),
    (OP_X, 166, RESERVED_RC, Form::Lock(CacheLockOp::DataTouchLock)),
    (OP_X, 134, RESERVED_RC, Form::Lock(CacheLockOp::DataTouchStoreLock)),
    (OP_X, 390, RESERVED_RC, Form::Lock(CacheLockOp::DataLockClear)),
    (OP_X, 486, RESERVED_RC, Form::Lock(CacheLockOp::InstructionTouchLock)),
    (OP_X, 230, RESERVED_RC, Form::Lock(CacheLockOp::InstructionLockClear)),
];

/// Decodes `word`; `None` for anything that is not one of the instructions above (or is
/// an invalid form of one).
pub fn decode(word: u32) -> Option<Insn> {
    let &(_, _, _, form) = FORMS
        .iter()
        .find(|&&(primary, xo, reserved, _)| word & (OPCODE_XO | reserved) == primary << 26 | xo << 1)?;
    let rt = field5(word, 6);
    let ra = field5(word, 11);
    let rb = field5(word, 16);
    let number = split_register_number(word);
    Some(match form {
        Form::Rfi => Insn::Rfi,
        Form::Rfci => Insn::Rfci,
        Form::Rfmci => Insn::Rfmci,
        Form::Mfmsr => Insn::Mfmsr { rd: rt },
        Form::Mtmsr => Insn::Mtmsr { rs: rt },
        Form::Wrtee => Insn::Wrtee { rs: rt },
        Form::Wrteei => Insn::Wrteei { enable: word & 0x8000 != 0 },
        Form::Mfspr => Insn::Mfspr { rd: rt, spr: number },
        Form::Mtspr => Insn::Mtspr { rs: rt, spr: number },
        Form::Mfpmr => Insn::Mfpmr { rd: rt, pmr: number },
        Form::Mtpmr => Insn::Mtpmr { rs: rt, pmr: number },
        Form::Tlbre => Insn::Tlbre,
        Form::Tlbwe => Insn::Tlbwe,
        Form::Tlbsx => Insn::Tlbsx { ra, rb },
        Form::Tlbivax => Insn::Tlbivax { ra, rb },
        Form::Tlbsync => Insn::Tlbsync,
        Form::Dcbi => Insn::Dcbi { ra, rb },
        Form::Lock(op) => Insn::CacheLock { op, ct: rt, ra, rb },
    })
}

#[cfg(test)]
mod tests;
