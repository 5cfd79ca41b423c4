//! The Program vector's fast path, `bh_program`: a guest kernel's `mfspr`/`mtspr` of a
//! plain SPR (reads of read-only ones too), `mfmsr`, and `mtmsr`/`wrtee`/`wrteei`/`rfi`
//! that switch no context and let no interrupt in, and, while no timer event is due, reads
//! of DEC/DECAR/TSR/TCR, TSR clears, DEC writes (arming the physical decrementer when
//! the new deadline is the nearest) and TCR writes (of its value) that need no
//! follow-up, `tlbre` and `tlbsx` (hit or miss) read from the guest TLB, and `tlbivax`
//! of a TLB0 page no entry maps, finished in assembly against the vCPU (the end of whose
//! `VcpuState` the frame is) before any Rust runs, and the guest resumed. The other timer
//! SPR moves, `tlbwe` and the other `tlbivax` are handed to
//! `Guest::timer_trap`/`Guest::tlb_trap` in Rust straight from here
//! (`bh_program_call`), without the standard save and the trap dispatch. The fast path
//! saves neither XER nor LR/CTR: it must not change them (no carrying arithmetic).
//! (`addi`/`subi` with rA = r0 read 0, not r0: never write them so.)
//! It is `emulate::in_vector` step for step (the fuzz tests hold that function to
//! `emulate` on every SPR and on random words), using the same SPR table
//! (`emulate::spr_moves::SPRS`) and the `wake` mask `Guest` leaves in the frame. The
//! instruction word comes through the frame's `fetch_tag`/`fetch_host` cache, which
//! `Guest::fetch` fills. Anything else (another instruction, a page not cached, virtual
//! problem state, an ESR other than PPR, a frame that is no vCPU's) continues as every
//! other trap does.
//!
//! `bh_vec_6` (in `trap.rs`'s vector page) has saved r0 and r2..r31 into the frame SPRG0
//! names and branched here with r1 = the frame. Every way out that does not finish the
//! instruction goes through `bh_program_full`, which stores what the checks left in
//! registers (CR, the IVOR, the trap's timebase) and continues at `trap.rs`'s
//! `bh_program_save`, the rest of the standard save.

use core::mem::offset_of;

use super::{msr, TrapFrame, VCPU_FROM_FRAME};
use crate::reflect::esr;
use crate::vcpu::{layout, VcpuState};

core::arch::global_asm!(
    r#"
    .section .text.bh_program, "ax"
    .globl bh_program
bh_program:                            # r1 = the frame; r0 and r2..r31 are saved in it
    mfspr 0, {spr_sprg1}               # the interrupted r1 ...
    stw 0, {f_gpr}+4(1)                # ... is frame.gpr[1]
    mfcr 31                            # r31 = CR (the checks below compare)
    mfspr 30, {spr_srr0}               # r30 = the trapping instruction's address
    lwz 29, {f_vmsr}(1)                # r29 = the virtual MSR (for a vCPU's frame)
    rlwinm 28, 30, 0, 0, 19            # its page ...
    rlwimi 28, 29, 0, 26, 26           # ... or'ed with virtual MSR[IS]: the cache's tag
    lwz 27, {f_fetch_tag}(1)           # the last page cached (other frames: FETCH_NONE)?
    cmpw 28, 27
    beq 8f
    lwz 27, {f_fetch_tag}+4(1)         # the one before?
    cmpw 28, 27
    bne bh_program_full                # not cached (or not a vCPU): the full path
    lwz 26, {f_fetch_host}+4(1)        # r26 = its host page; it becomes the last one
    lwz 25, {f_fetch_tag}(1)           #   (least recently used goes first on a miss)
    lwz 24, {f_fetch_host}(1)
    stw 28, {f_fetch_tag}(1)
    stw 26, {f_fetch_host}(1)
    stw 25, {f_fetch_tag}+4(1)
    stw 24, {f_fetch_host}+4(1)
    b 9f
8:  lwz 26, {f_fetch_host}(1)
9:
    andi. 0, 29, {msr_pr}              # virtual problem state: a fault to reflect,
    bne bh_program_full                #   the full path's
    mfspr 0, {spr_esr}                 # a privileged-instruction exception?
    andis. 0, 0, {esr_ppr}@h
    beq bh_program_full                # no (illegal, trap, ...): the full path
    rlwimi 26, 30, 0, 20, 29           # the instruction's word in its host page
    lwz 28, 0(26)                      # r28 = the instruction
    rlwinm 22, 28, 13, 25, 29          # r22 = its rD/rS field (bits 6-10) x 4: the
                                       #   offset of frame.gpr[rD/rS]
    rlwinm 27, 28, 0, 21, 5            # its primary opcode, XO and Rc ...
    xoris 27, 27, {op31}@h             # ... less primary opcode 31
    cmplwi cr1, 27, {mfspr}@l          # cr1.eq: mfspr rD, SPR
    beq cr1, 1f
    cmplwi 27, {mtspr}@l               # mtspr SPR, rS?
    beq 1f
    rlwinm 21, 28, 0, 17, 15           # the word without wrteei's E (MSR[EE]'s bit):
    xoris 21, 21, {op31}@h             #   wrteei E?
    cmplwi 21, {wrteei}@l
    beq 5f
    rlwinm 21, 28, 0, 11, 5            # the word without its rD/rS field, less opcode 31:
    xoris 21, 21, {op31}@h
    lwzx 20, 1, 22                     # r20 = rS (for mtmsr, wrtee)
    cmplwi 21, {mtmsr}@l               # mtmsr rS: the new MSR is rS
    beq 6f
    cmplwi 21, {wrtee}@l               # wrtee rS: EE from rS
    beq 4f
    cmplwi 21, {mfmsr}@l               # mfmsr rD
    beq 7f
    xoris 21, 28, {rfi}@h              # rfi?
    cmplwi 21, {rfi}@l
    bne 21f                            # none of these: the TLB instructions below
    lwz 30, {v_srr0}(1)                # rfi: PC = SRR0 with the low two bits clear
    rlwinm 30, 30, 0, 0, 29            #   (less the 4 added at the end) ...
    addi 30, 30, -4
    lwz 20, {v_srr1}(1)                # ... and MSR = SRR1
    b 6f
5:  mr 20, 28                          # wrteei: E in MSR[EE]'s place
4:  rlwimi 20, 29, 0, 17, 15           # wrtee(i): EE from r20, the rest of the old MSR
6:  lis 21, {msr_implemented}@h        # r20 = the new MSR, masked to the implemented bits
    ori 21, 21, {msr_implemented}@l
    and 20, 20, 21
    xor 21, 20, 29                     # what changes:
    andi. 21, 21, {msr_context}        #   PR, IS or DS: the full path switches context
    bne bh_program_full
    andis. 21, 20, {msr_we}@h          # WE: the full path decides about idling
    bne bh_program_full
    lwz 21, {f_wake}(1)                # an interrupt the new MSR lets in: the full path
    and. 21, 21, 20                    #   delivers it
    bne bh_program_full
    stw 20, {f_vmsr}(1)                # the new virtual MSR
    b 3f
7:  stwx 29, 1, 22                     # mfmsr: frame.gpr[rD] = the virtual MSR
    b 3f
1:  rlwinm 26, 28, 26, 22, 26          # mfspr/mtspr: the SPR number, high five bits ...
    rlwimi 26, 28, 16, 27, 31          # ... and low five
    lis 25, {sprs}@ha                  # r25 = the SPR table
    addi 25, 25, {sprs}@l
    lbzx 26, 25, 26                    # r26 = the SPR's row (0: none)
    add 24, 25, 26
    lbz 24, {t_kind}(24)               # r24 = its kind (0 plain, 1 read-only)
    slwi 23, 26, 1
    add 23, 25, 23
    lhz 23, {t_field}(23)              # where the vCPU keeps it: at r23 + VCPU below
    add 23, 1, 23
    beq cr1, 2f
    cmplwi 24, 0                       # mtspr: plain registers only
    bne 10f                            #   (or a timer SPR, below)
    slwi 21, 26, 2
    add 21, 25, 21
    lwz 21, {t_mask}(21)               # the bits a write keeps
    lwzx 20, 1, 22                     # rS (frame.gpr[rS]) ...
    and 20, 20, 21
    stw 20, {vcpu}(23)                 # ... into the SPR
    b 3f
2:  cmplwi 24, 1                       # mfspr: plain or read-only
    bgt 10f                            #   (or a timer SPR, below)
12: lwz 20, {vcpu}(23)                 # the SPR ...
    stwx 20, 1, 22                     # ... into frame.gpr[rD]
3:  addi 30, 30, 4                     # step over the instruction
    mtspr {spr_srr0}, 30
    mtcr 31                            # the guest's CR back
    lmw 2, {f_gpr}+8(1)                # its r2..r31 (rD's new value included)
    lwz 0, {f_gpr}(1)                  # r0
    lwz 1, {f_gpr}+4(1)                # r1, last
    rfi                                # SRR1 still holds the guest's MSR

10: subi 0, 24, {k_timer}              # a move of a timer SPR (kinds Timer..Dec) ...
    cmplwi 0, {k_dec} - {k_timer}
    bgt bh_program_full
11: mfspr 21, {spr_tbu}                # ... while no timer event is due at the
    mfspr 20, {spr_tbl}                #   timebase r21:r20 (VcpuState::timers_quiet):
    mfspr 0, {spr_tbu}
    cmpw 0, 21
    bne 11b
    lwz 0, {v_quiet_until}(1)          # timebase < quiet_until, ...
    cmplw 21, 0
    blt 13f
    bgt bh_program_timer
    lwz 0, {v_quiet_until}+4(1)
    cmplw 20, 0
    bge bh_program_timer
13: lwz 0, {v_tcr}(1)                  # ... TCR = quiet_tcr ...
    lwz 19, {v_quiet_tcr}(1)
    cmpw 0, 19
    bne bh_program_timer
    lbz 0, {v_dec}+{opt_tag}(1)        # ... and the DEC deadline = quiet_deadline
    lbz 19, {v_quiet_dec}+{opt_tag}(1) #   (Option<u64>s: tag byte, value words)
    cmpw 0, 19
    bne bh_program_timer
    cmpwi 0, 0
    beq 14f                            # both None
    lwz 18, {v_dec}+{opt_value}(1)     # r18:r19 = the deadline
    lwz 0, {v_quiet_dec}+{opt_value}(1)
    cmpw 0, 18
    bne bh_program_timer
    lwz 19, {v_dec}+{opt_value}+4(1)
    lwz 0, {v_quiet_dec}+{opt_value}+4(1)
    cmpw 0, 19
    bne bh_program_timer
14: bne cr1, 17f                       # a write: below
    cmplwi 24, {k_dec}                 # TSR, TCR, DECAR: the stored value
    bne 12b
    li 17, 0                           # DEC: 0 if stopped, else deadline - timebase
    lbz 0, {v_dec}+{opt_tag}(1)        #   (positive: the deadline is not before
    cmpwi 0, 0                         #   quiet_until), at most 2^32 - 1
    beq 15f
    subf 17, 20, 19                    # low words ...
    subf 18, 21, 18                    # ... high words less the borrow (no subfc/subfe:
    cmplw 19, 20                       #   XER[CA] is the guest's and this path does not
    bge 37f                            #   save XER): non-zero is 2^32 or more (subi's
    subi 18, 18, 1                     #   rA is never r0: r0 reads as 0 there)
37: cmpwi 18, 0
    beq 15f
    li 17, -1
15: stwx 17, 1, 22                     # into frame.gpr[rD]
    b 3b

17: cmplwi 24, {k_dec}                 # mtspr DEC, TCR: below
    beq 23f
    cmplwi 24, {k_tcr}
    beq 31f
    cmplwi 24, {k_tsr}                 # mtspr TSR, write 1 to clear, while clearing
    bne bh_program_timer               #   it lets no timer deadline count again (the
    lwz 19, {v_tsr}(1)                 #   physical decrementer stays right; the wake
    lwzx 17, 1, 22                     #   mask in the frame may keep bits it no longer
    and 0, 19, 17                      #   needs: only more of the vector's work goes to
    andis. 18, 0, {tsr_fis_wis}@h      #   the full path): no FIS or WIS ...
    bne bh_program_timer
    andis. 18, 0, {tsr_dis}@h          #   ... and DIS only with the decrementer stopped
    beq 18f                            #   or TCR[DIE] clear
    lbz 18, {v_dec}+{opt_tag}(1)
    cmpwi 18, 0
    beq 18f
    lwz 18, {v_tcr}(1)
    andis. 18, 18, {tcr_die}@h
    bne bh_program_timer
18: andc 19, 19, 17                    # TSR &= !rS
    stw 19, {v_tsr}(1)
    b 3b

23: lwz 0, {v_tcr}(1)                  # mtspr DEC while its deadline cannot count (TCR
    andis. 0, 0, {tcr_die}@h           #   [DIE] clear or TSR[DIS] set): the physical
    beq 24f                            #   decrementer and the wake mask stay right
    lwz 0, {v_tsr}(1)
    andis. 0, 0, {tsr_dis}@h
    bne 24f
    lwzx 17, 1, 22                     # it counts: rS non-zero, the deadline r18:r19 =
    cmpwi 17, 0                        #   timebase + rS not past 2^64 and before the
    beq bh_program_timer               #   FIT and watchdog edges (then it is the
    add 19, 20, 17                     #   nearest deadline), else Guest::timer_trap
    cmplw 19, 17                       #   (carry by compare: no addc/addze, XER[CA]
    mr 18, 21                          #   is the guest's)
    bge 35f
    addi 18, 21, 1
35: cmplw 18, 21
    blt bh_program_timer
    lwz 16, {v_fit_edge}(1)
    lwz 15, {v_fit_edge}+4(1)
    cmplw 18, 16
    bgt bh_program_timer
    blt 33f
    cmplw 19, 15
    bge bh_program_timer
33: lwz 16, {v_watchdog_edge}(1)
    lwz 15, {v_watchdog_edge}+4(1)
    cmplw 18, 16
    bgt bh_program_timer
    blt 34f
    cmplw 19, 15
    bge bh_program_timer
34: mtspr {spr_dec}, 17                # the physical decrementer: rS ticks from about
    lis 0, {tcr_die}@h                 #   the vector's timebase (timer::program);
    mtspr {spr_tcr}, 0                 #   Guest::armed_for, the DEC deadline and the
    li 0, 0                            #   quiet window's = Some(the deadline), which is
    stw 0, {g_armed}(1)                #   also quiet_until (before both edges:
    stw 0, {v_dec}(1)                  #   VcpuState::write_dec). The tags' words ...
    stw 0, {v_quiet_dec}(1)
    li 0, 1
    stw 0, {g_armed}+4(1)
    stw 0, {v_dec}+4(1)
    stw 0, {v_quiet_dec}+4(1)
    stw 18, {g_armed}+{opt_value}(1)   # ... and the values
    stw 19, {g_armed}+{opt_value}+4(1)
    stw 18, {v_dec}+{opt_value}(1)
    stw 19, {v_dec}+{opt_value}+4(1)
    stw 18, {v_quiet_dec}+{opt_value}(1)
    stw 19, {v_quiet_dec}+{opt_value}+4(1)
    stw 18, {v_quiet_until}(1)
    stw 19, {v_quiet_until}+4(1)
    b 3b

24: lwzx 17, 1, 22                     # rS: 0 stops it (None), else the deadline is
    li 0, 0                            #   timebase + rS, saturating; the quiet window
    stw 0, {v_dec}(1)                  #   moves with it (VcpuState::write_dec). The
    stw 0, {v_quiet_dec}(1)            #   tags' first words (0)
    li 18, -1                          # r18:r19 = the deadline, "never" if stopped
    li 19, -1
    cmpwi 17, 0
    beq 25f
    add 19, 20, 17                     # (carry by compare, as above)
    cmplw 19, 17
    mr 18, 21
    bge 36f
    addi 18, 21, 1
36: cmplw 18, 21                       # carried out of 64 bits: u64::MAX
    bge 26f
    li 18, -1
    li 19, -1
26: stw 18, {v_dec}+{opt_value}(1)
    stw 19, {v_dec}+{opt_value}+4(1)
    stw 18, {v_quiet_dec}+{opt_value}(1)
    stw 19, {v_quiet_dec}+{opt_value}+4(1)
    li 0, 1
25: stw 0, {v_dec}+4(1)                # the tags' second words (1 Some, 0 None)
    stw 0, {v_quiet_dec}+4(1)
    lwz 16, {v_fit_edge}(1)            # quiet_until = the earliest of the deadline and
    lwz 17, {v_fit_edge}+4(1)          #   the FIT and watchdog edges
    cmplw 16, 18
    blt 27f
    bgt 28f
    cmplw 17, 19
    bge 28f
27: mr 18, 16
    mr 19, 17
28: lwz 16, {v_watchdog_edge}(1)
    lwz 17, {v_watchdog_edge}+4(1)
    cmplw 16, 18
    blt 29f
    bgt 30f
    cmplw 17, 19
    bge 30f
29: mr 18, 16
    mr 19, 17
30: stw 18, {v_quiet_until}(1)
    stw 19, {v_quiet_until}+4(1)
    b 3b

31: lwzx 17, 1, 22                     # mtspr TCR keeping its value changes nothing
    lis 18, {tcr_implemented}@h        #   (VcpuState::write_tcr): rS masked to the
    ori 18, 18, {tcr_implemented}@l    #   implemented bits ...
    and 17, 17, 18
    lwz 19, {v_tcr}(1)
    xor 17, 17, 19                     # ... against TCR ...
    andis. 0, 19, {tcr_wrc}@h          # ... less WRC once it is set (set-once)
    beq 32f
    lis 0, {tcr_wrc}@h
    andc 17, 17, 0
32: cmpwi 17, 0
    bne bh_program_timer               # a change: Guest::timer_trap
    b 3b

21: cmplwi 27, {tlbre}@l               # tlbre, tlbsx, tlbivax (by XO; the reserved
    beq 40f                            #   fields below), tlbwe: Guest::tlb_trap
    cmplwi 27, {tlbsx}@l
    beq 50f
    cmplwi 27, {tlbivax}@l
    beq 60f
    cmplwi 27, {tlbwe}@l
    beq 22f
    b bh_program_full                  # anything else: the full path
40: lis 0, {tlbre_word}@h              # tlbre (no reserved bit set): read here from the
    ori 0, 0, {tlbre_word}@l           #   guest TLB (GuestTlb::read, fixed e500v2
    cmpw 28, 0                         #   geometry, 16-byte entries)
    bne 22f
    lwz 27, {v_mas0}(1)                # r27 = MAS0
    addis 26, 1, {tlb_ha}              # r26 = the guest TLB
    addi 26, 26, {tlb_lo}
    andis. 0, 27, {mas0_tlbsel}@h
    bne 41f
    lwz 24, {v_mas2}(1)                # TLB0: entry (MAS2[EPN] mod 128 sets) x 4 ways
    rlwinm 24, 24, 26, 19, 25          #   + MAS0[ESEL] mod 4, x 16 bytes
    rlwinm 23, 27, 20, 26, 27
    add 25, 26, 24
    add 25, 25, 23
    addi 25, 25, {tlb0}
    lwz 0, {tlb0_nv}(26)               # MAS0[NV] = TLB0[NV]
    rlwinm 27, 27, 0, 0, 29
    or 27, 27, 0
    stw 27, {v_mas0}(1)
    b 42f
41: rlwinm 24, 27, 20, 24, 27          # TLB1: entry MAS0[ESEL] (of 16), x 16 bytes
    add 25, 26, 24
    addi 25, 25, {tlb1}
42: lwz 17, {e_mas1}(25)               # MAS1-3 (and MAS7 with HID0[EN_MAS7_UPDATE])
    lwz 18, {e_mas2}(25)               #   = the entry's words
    lwz 19, {e_mas3}(25)
    lwz 24, {e_mas7}(25)
43: stw 17, {v_mas1}(1)                # (r17-r19, r24: MAS1-3, MAS7)
    stw 18, {v_mas2}(1)
    stw 19, {v_mas3}(1)
    lwz 0, {v_hid0}(1)
    andi. 0, 0, {hid0_mas7}
    beq 3b
    stw 24, {v_mas7}(1)
    b 3b

50: lis 0, {tlbsx_not_rb}@h            # tlbsx 0, rB (no rA, no reserved bit): a hit and
    ori 0, 0, {tlbsx_not_rb}@l         #   a miss (the MAS4 defaults) are finished here
    and 0, 28, 0                       #   (GuestTlb::search)
    lis 27, {tlbsx_word}@h
    ori 27, 27, {tlbsx_word}@l
    cmpw 0, 27
    bne 22f
    rlwinm 16, 28, 23, 25, 29          # rB's field x 4: frame.gpr[rB] ...
    lwzx 16, 1, 16                     # ... r16 = the EA
    lwz 0, {v_mas6}(1)
    rlwinm 15, 0, 16, 24, 31           # r15 = MAS6[SPID0]
    rlwinm 11, 0, 12, 19, 19           # r11 = MAS6[SAS] in MAS1[TS]'s place
    addis 26, 1, {tlb_ha}              # r26 = the guest TLB
    addi 26, 26, {tlb_lo}
    lhz 14, {tlb1_live}(26)            # r14 = the live TLB1 entries, searched first,
    addi 12, 26, {tlb1} + 31 * 16      #   lowest index first: entry i at r12 - 16 x
51: neg 0, 14                          #   (31 - i), the leading zeros of its bit
    and. 0, 0, 14                      #   (r10; no subfic: XER[CA] is the guest's)
    beq 54f
    andc 14, 14, 0
    cntlzw 10, 0
    slwi 0, 10, 4
    subf 25, 0, 12                     # r25 = the entry
    lwz 17, {e_mas1}(25)
    andis. 0, 17, {mas1_v}@h           # valid ...
    beq 51b
    rlwinm 18, 17, 25, 27, 30          # ... whose page (2^(10 + 2 TSIZE) bytes; r18 =
    addi 0, 18, 10                     #   2 TSIZE) holds EA (addi's rA is never r0: r0
    lwz 19, {e_mas2}(25)               #   reads as 0 there; a shift of 32 or more
    xor 19, 19, 16                     #   leaves 0, and the 12 attribute bits go with
    srw. 19, 19, 0                     #   any TSIZE the core has) ...
    bne 51b
    addi 0, 18, -2                     # ... with a TSIZE the core has (1..=0xB) ...
    cmplwi 0, 20
    bgt 51b
    rlwinm 0, 17, 0, 19, 19            # ... TS = SAS ...
    cmpw 0, 11
    bne 51b
    rlwinm. 0, 17, 16, 24, 31          # ... and TID 0 or SPID0
    beq 53f
    cmpw 0, 15
    bne 51b
53: li 13, 31                          # r13 = its index
    subf 13, 10, 13
    lis 27, {mas0_tlbsel}@h            # a TLB1 hit: MAS0 = TLBSEL | ESEL | TLB0[NV]
    b 56f
54: rlwinm 25, 16, 26, 19, 25          # TLB0: EA's set (EA >> 12 mod 128) x 64 bytes
    add 25, 25, 26
    addi 25, 25, {tlb0}
    li 13, 0                           # r13 = the way
55: lwz 17, {e_mas1}(25)
    andis. 0, 17, {mas1_v}@h           # valid, the same 4 KiB page, TS = SAS, TID 0
    beq 57f                            #   or SPID0
    lwz 18, {e_mas2}(25)
    xor 18, 18, 16
    rlwinm. 18, 18, 0, 0, 19
    bne 57f
    rlwinm 0, 17, 0, 19, 19
    cmpw 0, 11
    bne 57f
    rlwinm. 0, 17, 16, 24, 31
    beq 58f
    cmpw 0, 15
    beq 58f
57: addi 13, 13, 1
    addi 25, 25, 16
    cmpwi 13, {tlb0_ways}
    blt 55b
    lwz 24, {v_mas4}(1)                # a miss: the MAS4 defaults (GuestTlb::search,
    andis. 0, 24, {mas4_tlbseld}@h     #   table 12-15), MAS1[V] clear. MAS4[TLBSELD]
    beq 59f                            #   TLB1: MAS0 = TLBSEL | MAS0[ESEL, NV]
    lwz 27, {v_mas0}(1)
    lis 0, {mas0_esel_nv}@h
    ori 0, 0, {mas0_esel_nv}@l
    and 27, 27, 0
    oris 27, 27, {mas0_tlbsel}@h
    b 49f
59: lwz 17, {tlb0_nv}(26)              # TLB0: MAS0[ESEL] = TLB0[NV], MAS0[NV] the next
    slwi 27, 17, 16                    #   way
    addi 17, 17, 1
    rlwinm 17, 17, 0, 30, 31
    or 27, 27, 17
49: stw 27, {v_mas0}(1)
    slwi 17, 15, 16                    # MAS1 = TID SPID0, TS SAS, MAS4[TSIZED]
    or 17, 17, 11
    rlwinm 0, 24, 0, 20, 23
    or 17, 17, 0
    rlwinm 18, 16, 0, 0, 19            # MAS2 = EA's page, MAS4's WIMGE
    rlwinm 0, 24, 0, 25, 31
    or 18, 18, 0
    li 19, 0                           # MAS3 (and MAS7) = 0
    li 24, 0
    b 43b
58: li 27, 0                           # a TLB0 hit: MAS0 = way | TLB0[NV]
56: slwi 0, 13, 16
    or 27, 27, 0
    lwz 0, {tlb0_nv}(26)
    or 27, 27, 0
    stw 27, {v_mas0}(1)
    b 42b                              # MAS1-3 (and MAS7) from the entry, as tlbre

60: lis 0, {tlbivax_not_ra_rb}@h        # tlbivax rA, rB (no reserved bit) of a TLB0
    ori 0, 0, {tlbivax_not_ra_rb}@l    #   page (no INV_ALL) that no TLB0 entry maps
    and 0, 28, 0                       #   (no shadow entry to drop): nothing to do
    lis 27, {tlbivax_word}@h           #   (GuestTlb::invalidate_by_address); else
    ori 27, 27, {tlbivax_word}@l       #   Guest::tlb_trap
    cmpw 0, 27
    bne 22f
    rlwinm. 15, 28, 18, 25, 29         # rA's field x 4 (0: the value 0) ...
    li 14, 0
    beq 61f
    lwzx 14, 1, 15
61: rlwinm 16, 28, 23, 25, 29          # ... and rB's: r16 = the EA (add: no carry)
    lwzx 16, 1, 16
    add 16, 16, 14
    andi. 0, 16, {ivax_tlb1_all}       # TLB1 or INV_ALL: Rust
    bne 22f
    addis 26, 1, {tlb_ha}              # the EA's TLB0 set (EA >> 12 mod 128) x 64
    addi 26, 26, {tlb_lo}              #   bytes
    rlwinm 25, 16, 26, 19, 25
    add 25, 25, 26
    addi 25, 25, {tlb0}
    li 13, {tlb0_ways}                 # r13 = the ways left
62: lwz 17, {e_mas1}(25)
    andis. 0, 17, {mas1_v}@h           # a valid entry of the same 4 KiB page: Rust
    beq 63f
    lwz 18, {e_mas2}(25)
    xor 18, 18, 16
    rlwinm. 18, 18, 0, 0, 19
    beq 22f
63: addi 25, 25, 16
    addi 13, 13, -1
    cmpwi 13, 0
    bne 62b
    b 3b

22: lis 7, {tlb_trap}@ha
    addi 7, 7, {tlb_trap}@l
    mfspr 20, {spr_tbl}                # (the trap's time, should it need emulate)
    b bh_program_call

bh_program_timer:                      # a timer SPR move (a write, or a read with an
                                       #   event due): Guest::timer_trap
    lis 7, {timer_trap}@ha
    addi 7, 7, {timer_trap}@l
    mr 5, 21                           # r5:r6 = the timebase read above (r21:r20, kept
    mr 6, 20                           #   on every way here), as near as the vector
                                       #   gets to when it trapped
bh_program_call:                       # r7 = a Rust handler (frame, word, timebase), r20
                                       #   the timebase's low word: called as
                                       #   bh_call_handler calls a handler
    stw 20, {f_tbl}(1)                 # what the standard save would have stored and
    stw 30, {f_srr0}(1)                #   the Rust code or the re-entry uses: the
    stw 31, {f_cr}(1)                  #   trap's time, PC, CR, LR, CTR, XER (the call
    mflr 0                             #   changes the last three) and IVOR6 (for an
    stw 0, {f_lr}(1)                   #   exit to the core)
    mfctr 0
    stw 0, {f_ctr}(1)
    mtctr 7                            # the handler
    mfxer 0
    stw 0, {f_xer}(1)
    li 0, 6
    stw 0, {f_ivor}(1)
    mr 31, 1                           # r31 = the frame (callee-saved)
    lwz 1, {f_host_sp}(1)              # the host's stack, below the host frame
    mfspr 3, {spr_sprg2}               # SPRG0 = this core's fault frame while Rust
    mtspr {spr_sprg0}, 3               #   runs (a fault never overwrites the guest's)
    mr 3, 31
    mr 4, 28
    bctrl                              # handler(frame, word, timebase)
    mr 1, 31                           # r1 = the frame again
    cmpwi 3, 0
    beq bh_trap_return                 # 0: leave for the core (trap.rs)
    mr 3, 1                            # else enter the guest again from the frame,
    mtspr {spr_sprg0}, 3               #   whose traps save into it
    b bh_load_guest                    #   (trap.rs)

bh_program_full:                       # as bh_save_standard, from where bh_program was
    mfspr 0, {spr_tbl}                 # when it trapped, for timer instructions
    stw 0, {f_tbl}(1)
    stw 31, {f_cr}(1)                  # the CR read above ...
    li 0, 6                            # ... and IVOR6
    stw 0, {f_ivor}(1)
    b bh_program_save                  # the rest of the standard save (trap.rs)
    "#,
    msr_pr = const msr::PR,
    esr_ppr = const esr::PPR,
    op31 = const 31u32 << 26,
    mfspr = const crate::emulate::fast::MFSPR,
    mtspr = const crate::emulate::fast::MTSPR,
    mfmsr = const crate::emulate::fast::MFMSR,
    mtmsr = const crate::emulate::fast::MTMSR,
    wrtee = const crate::emulate::fast::WRTEE,
    wrteei = const crate::emulate::fast::WRTEEI,
    rfi = const crate::emulate::fast::RFI,
    msr_implemented = const crate::vcpu::msr::IMPLEMENTED,
    msr_context = const msr::PR | msr::IS | msr::DS,
    msr_we = const crate::vcpu::msr::WE,
    v_srr0 = const VCPU_FROM_FRAME + offset_of!(VcpuState, srr0) as i32,
    v_srr1 = const VCPU_FROM_FRAME + offset_of!(VcpuState, srr1) as i32,
    f_wake = const offset_of!(TrapFrame, wake),
    f_tbl = const offset_of!(TrapFrame, tbl),
    spr_tbl = const crate::spr::TBL_READ,
    spr_tbu = const crate::spr::TBU_READ,
    spr_sprg0 = const crate::spr::SPRG0,
    spr_sprg2 = const crate::spr::SPRG2,
    timer_trap = sym crate::guest::guest_timer_trap,
    tlb_trap = sym crate::guest::guest_tlb_trap,
    tlbre = const 946u32 << 1,
    tlbsx = const 914u32 << 1,
    tlbwe = const 978u32 << 1,
    tlbivax = const 786u32 << 1,
    f_srr0 = const offset_of!(TrapFrame, srr0),
    f_lr = const offset_of!(TrapFrame, lr),
    f_ctr = const offset_of!(TrapFrame, ctr),
    f_xer = const offset_of!(TrapFrame, xer),
    f_host_sp = const offset_of!(TrapFrame, host_sp),
    k_timer = const crate::emulate::spr_moves::Kind::Timer as u8,
    k_dec = const crate::emulate::spr_moves::Kind::Dec as u8,
    k_tsr = const crate::emulate::spr_moves::Kind::Tsr as u8,
    k_tcr = const crate::emulate::spr_moves::Kind::Tcr as u8,
    g_armed = const crate::guest::ARMED_FROM_FRAME,
    tlbre_word = const crate::emulate::fast::TLBRE,
    tlbsx_word = const crate::emulate::fast::TLBSX,
    tlbsx_not_rb = const crate::emulate::fast::TLBSX_NOT_RB,
    tlbivax_word = const crate::emulate::fast::TLBIVAX,
    tlbivax_not_ra_rb = const crate::emulate::fast::TLBIVAX_NOT_RA_RB,
    ivax_tlb1_all = const crate::guest_tlb::IVAX_TLB1 | crate::guest_tlb::IVAX_ALL,
    mas4_tlbseld = const crate::guest_tlb::mas::MAS4_TLBSELD,
    mas0_esel_nv = const crate::guest_tlb::mas::MAS0_ESEL | crate::guest_tlb::mas::MAS0_NV,
    v_mas4 = const VCPU_FROM_FRAME + (offset_of!(VcpuState, mas) + offset_of!(crate::guest_tlb::Mas, mas4)) as i32,
    tlb1_live = const crate::guest_tlb::layout::TLB1_LIVE,
    tlb0_ways = const crate::guest_tlb::TLB0_WAYS,
    mas1_v = const crate::guest_tlb::mas::MAS1_V,
    v_mas6 = const VCPU_FROM_FRAME + (offset_of!(VcpuState, mas) + offset_of!(crate::guest_tlb::Mas, mas6)) as i32,
    tlb_ha = const crate::guest::TLB_FROM_FRAME_HA,
    tlb_lo = const crate::guest::TLB_FROM_FRAME_LO,
    tlb0 = const crate::guest_tlb::layout::TLB0,
    tlb1 = const crate::guest_tlb::layout::TLB1,
    tlb0_nv = const crate::guest_tlb::layout::TLB0_NV,
    e_mas1 = const crate::guest_tlb::layout::MAS1,
    e_mas2 = const crate::guest_tlb::layout::MAS2,
    e_mas3 = const crate::guest_tlb::layout::MAS3,
    e_mas7 = const crate::guest_tlb::layout::MAS7,
    mas0_tlbsel = const crate::guest_tlb::mas::MAS0_TLBSEL,
    hid0_mas7 = const crate::vcpu::hid0::EN_MAS7_UPDATE,
    v_mas0 = const VCPU_FROM_FRAME + (offset_of!(VcpuState, mas) + offset_of!(crate::guest_tlb::Mas, mas0)) as i32,
    v_mas1 = const VCPU_FROM_FRAME + (offset_of!(VcpuState, mas) + offset_of!(crate::guest_tlb::Mas, mas1)) as i32,
    v_mas2 = const VCPU_FROM_FRAME + (offset_of!(VcpuState, mas) + offset_of!(crate::guest_tlb::Mas, mas2)) as i32,
    v_mas3 = const VCPU_FROM_FRAME + (offset_of!(VcpuState, mas) + offset_of!(crate::guest_tlb::Mas, mas3)) as i32,
    v_mas7 = const VCPU_FROM_FRAME + (offset_of!(VcpuState, mas) + offset_of!(crate::guest_tlb::Mas, mas7)) as i32,
    v_hid0 = const VCPU_FROM_FRAME + offset_of!(VcpuState, hid0) as i32,
    spr_dec = const crate::spr::DEC,
    spr_tcr = const crate::spr::TCR,
    tcr_implemented = const crate::vcpu::tcr::IMPLEMENTED,
    tcr_wrc = const crate::vcpu::tcr::WRC,
    v_tsr = const VCPU_FROM_FRAME + layout::TSR as i32,
    v_fit_edge = const VCPU_FROM_FRAME + layout::FIT_EDGE as i32,
    v_watchdog_edge = const VCPU_FROM_FRAME + layout::WATCHDOG_EDGE as i32,
    tsr_fis_wis = const crate::vcpu::tsr::FIS | crate::vcpu::tsr::WIS,
    tsr_dis = const crate::vcpu::tsr::DIS,
    tcr_die = const crate::vcpu::tcr::DIE,
    v_quiet_until = const VCPU_FROM_FRAME + layout::QUIET_UNTIL as i32,
    v_quiet_tcr = const VCPU_FROM_FRAME + layout::QUIET_TCR as i32,
    v_quiet_dec = const VCPU_FROM_FRAME + layout::QUIET_DEADLINE as i32,
    v_dec = const VCPU_FROM_FRAME + layout::DEC_DEADLINE as i32,
    v_tcr = const VCPU_FROM_FRAME + layout::TCR as i32,
    opt_value = const layout::OPTION_VALUE,
    opt_tag = const layout::OPTION_TAG,
    sprs = sym crate::emulate::spr_moves::SPRS,
    t_kind = const offset_of!(crate::emulate::spr_moves::SprTable, kind),
    t_field = const offset_of!(crate::emulate::spr_moves::SprTable, field),
    t_mask = const offset_of!(crate::emulate::spr_moves::SprTable, mask),
    vcpu = const VCPU_FROM_FRAME,
    f_vmsr = const VCPU_FROM_FRAME + offset_of!(VcpuState, msr) as i32,
    f_gpr = const offset_of!(TrapFrame, gpr),
    f_cr = const offset_of!(TrapFrame, cr),
    f_ivor = const offset_of!(TrapFrame, ivor),
    f_fetch_tag = const offset_of!(TrapFrame, fetch_tag),
    f_fetch_host = const offset_of!(TrapFrame, fetch_host),
    spr_sprg1 = const crate::spr::SPRG1,
    spr_srr0 = const crate::spr::SRR0,
    spr_esr = const crate::spr::ESR,
);
