use super::*;

fn state() -> VcpuState {
    VcpuState::new(CpuModel::E500V2, 0, 1000)
}

#[test]
fn msr_implemented_mask() {
    assert_eq!(msr::IMPLEMENTED, 0x0606_FB34);
}

#[test]
fn dec_counts_down_and_stops_at_zero() {
    let mut s = state();
    s.write_dec(100, 1000);
    assert_eq!(s.dec_value(1000), 100);
    assert_eq!(s.dec_value(1099), 1);
    assert_eq!(s.dec_value(1100), 0);
    assert_eq!(s.dec_value(5000), 0);
    assert_eq!(s.tsr & tsr::DIS, 0);
    s.update_timers(1100);
    assert_ne!(s.tsr & tsr::DIS, 0);
    assert_eq!(s.dec_deadline, None);
}

#[test]
fn dec_zero_write_stops_without_event() {
    let mut s = state();
    s.write_dec(0, 1000);
    assert_eq!(s.dec_deadline, None);
    s.update_timers(10_000);
    assert_eq!(s.tsr & tsr::DIS, 0);
}

#[test]
fn dec_auto_reload_with_are() {
    let mut s = state();
    s.tcr = tcr::ARE;
    s.decar = 50;
    s.write_dec(10, 1000);
    // Event at 1010: DEC is reloaded with DECAR instead of reaching 0.
    assert_eq!(s.dec_value(1010), 50);
    assert_eq!(s.dec_value(1011), 49);
    assert_eq!(s.dec_value(1059), 1);
    assert_eq!(s.dec_value(1060), 50);
    s.update_timers(1075);
    assert_ne!(s.tsr & tsr::DIS, 0);
    assert_eq!(s.dec_deadline, Some(1110));
    assert_eq!(s.dec_value(1075), 35);
}

#[test]
fn dec_deadline_saturates_near_timebase_end() {
    let mut s = state();
    s.write_dec(u32::MAX, u64::MAX - 5);
    assert_eq!(s.dec_deadline, Some(u64::MAX));
    s.tcr = tcr::ARE;
    s.decar = u32::MAX;
    s.update_timers(u64::MAX);
    assert_ne!(s.tsr & tsr::DIS, 0);
}

#[test]
fn watchdog_reset_control_is_sticky() {
    let mut s = state();
    s.write_tcr(2 << tcr::WRC_SHIFT, 1000);
    s.write_tcr(0, 1000);
    assert_eq!(s.tcr & tcr::WRC, 2 << tcr::WRC_SHIFT);
    s.write_tcr(tcr::DIE | (1 << tcr::WRC_SHIFT), 1000);
    assert_eq!(s.tcr, tcr::DIE | (2 << tcr::WRC_SHIFT));
}

#[test]
fn fit_sets_fis_on_selected_bit_rising() {
    let mut s = VcpuState::new(CpuModel::E500V2, 0, 0);
    // Period 63 selects TB bit 63 (the LSB): FPEXT = 0xF, FP = 3.
    s.tcr = tcr::FPEXT | tcr::FP | tcr::FIE;
    assert_eq!(s.next_timer_deadline(), Some(1));
    // Period 60 selects LSB-numbered bit 3: it rises at 8, 24, 40...
    s.tcr = (0xF << tcr::FPEXT_SHIFT) | tcr::FIE;
    assert_eq!(s.next_timer_deadline(), Some(8));
    s.update_timers(7);
    assert_eq!(s.tsr & tsr::FIS, 0);
    s.update_timers(8);
    assert_ne!(s.tsr & tsr::FIS, 0);
    s.tsr = 0;
    assert_eq!(s.next_timer_deadline(), Some(24));
}

#[test]
fn watchdog_state_machine_enw_wis_reset() {
    let mut s = VcpuState::new(CpuModel::E500V2, 0, 0);
    // Watchdog on TB bit 3 (period 60: WPEXT = 0xF, WP = 0), interrupt and chip reset.
    s.write_tcr((0xF << tcr::WPEXT_SHIFT) | tcr::WIE | (2 << tcr::WRC_SHIFT), 0);
    assert_eq!(s.next_timer_deadline(), Some(8));
    assert_eq!(s.update_timers(8), None);
    assert_eq!(s.tsr & (tsr::ENW | tsr::WIS), tsr::ENW);
    assert_eq!(s.update_timers(24), None);
    assert_eq!(s.tsr & (tsr::ENW | tsr::WIS), tsr::ENW | tsr::WIS);
    assert_eq!(s.update_timers(40), Some(WatchdogReset::Chip));
    assert_eq!(s.tsr & tsr::WRS, 2 << tsr::WRS_SHIFT);
    assert_eq!(s.take_watchdog_reset(), Some(WatchdogReset::Chip));
    assert_eq!(s.take_watchdog_reset(), None);
}

#[test]
fn watchdog_many_periods_at_once_and_no_reset_without_wrc() {
    let mut s = VcpuState::new(CpuModel::E500V2, 0, 0);
    s.write_tcr(0xF << tcr::WPEXT_SHIFT, 0);
    assert_eq!(s.update_timers(1 << 20), None);
    assert_eq!(s.tsr & (tsr::ENW | tsr::WIS | tsr::WRS), tsr::ENW | tsr::WIS);
}

#[test]
fn default_periods_never_fire_in_practice() {
    let mut s = VcpuState::new(CpuModel::E500V2, 0, 0);
    s.tcr = tcr::WIE | tcr::FIE;
    // Period 0 selects the timebase MSB: first rise at 2^63.
    assert_eq!(s.next_timer_deadline(), Some(1 << 63));
    s.update_timers(u64::MAX);
    assert_eq!(s.next_timer_deadline(), None);
}

#[test]
fn next_deadline_is_the_earliest_enabled_event() {
    let mut s = state();
    s.write_dec(500, 1000);
    assert_eq!(s.next_timer_deadline(), None, "DIE clear");
    s.tcr = tcr::DIE;
    assert_eq!(s.next_timer_deadline(), Some(1500));
    s.tsr = tsr::DIS;
    assert_eq!(s.next_timer_deadline(), None, "already pending");
}

#[test]
fn watchdog_deadline_only_while_a_time_out_can_change_something() {
    let mut s = VcpuState::new(CpuModel::E500V2, 0, 0);
    // Watchdog on TB bit 3 (rises at 8, 24, 40, ...), interrupt enabled, no reset.
    s.write_tcr((0xF << tcr::WPEXT_SHIFT) | tcr::WIE, 0);
    assert_eq!(s.next_timer_deadline(), Some(8), "first time-out sets ENW");
    s.update_timers(8);
    assert_eq!(s.next_timer_deadline(), Some(24), "second sets WIS");
    s.update_timers(24);
    assert_eq!(s.tsr & (tsr::ENW | tsr::WIS), tsr::ENW | tsr::WIS);
    assert_eq!(s.next_timer_deadline(), None, "WIS pending, WRC = 0: nothing more can happen");
    // The guest's handler clears WIS (and ENW): time-outs matter again.
    s.tsr &= !(tsr::WIS | tsr::ENW);
    assert_eq!(s.next_timer_deadline(), Some(40));
    // With a reset selected, a pending WIS still leaves the reset to arm for.
    s.tsr |= tsr::ENW | tsr::WIS;
    s.write_tcr(s.tcr | (1 << tcr::WRC_SHIFT), 24);
    assert_eq!(s.next_timer_deadline(), Some(40));
    assert_eq!(s.update_timers(40), Some(WatchdogReset::Core));
}

#[test]
fn fit_and_watchdog_interrupts_repeat_after_the_handler_clears_status() {
    // The test guests' cycle: FIT on TB bit 3 (every 16 ticks from 8), watchdog on TB bit 4
    // (time-outs at 16, 48, 80, ...), EE and CE set; each handler clears its status.
    let mut s = VcpuState::new(CpuModel::E500V2, 0, 0);
    s.msr = msr::EE | msr::CE;
    s.write_tcr((0xF << tcr::FPEXT_SHIFT) | tcr::FIE | (0xE << tcr::WPEXT_SHIFT) | (3 << tcr::WP_SHIFT) | tcr::WIE, 0);
    let mut fits = 0;
    let mut watchdogs = 0;
    let mut t = 0;
    while let Some(next) = s.next_timer_deadline() {
        if next > 200 {
            break;
        }
        t = next;
        assert_eq!(s.update_timers(t), None);
        while let Some(int) = s.pending_interrupt() {
            match int {
                Interrupt::FixedIntervalTimer => {
                    fits += 1;
                    s.tsr &= !tsr::FIS;
                }
                Interrupt::Watchdog => {
                    watchdogs += 1;
                    s.tsr &= !(tsr::WIS | tsr::ENW);
                }
                other => panic!("unexpected {other:?} at {t}"),
            }
        }
    }
    // FIT edges 8, 24, ..., 200 (13); watchdog time-outs 16, 48, ..., 176 (6), one
    // interrupt per two.
    assert_eq!((fits, watchdogs, t), (13, 3, 200));
}

#[test]
fn pending_interrupts_gated_by_msr() {
    let mut s = state();
    s.tsr = tsr::DIS | tsr::FIS | tsr::WIS;
    s.tcr = tcr::DIE;
    assert_eq!(s.pending_interrupt(), None, "EE clear");
    s.msr = msr::EE;
    assert_eq!(s.pending_interrupt(), Some(Interrupt::Decrementer));
    s.tcr |= tcr::FIE;
    assert_eq!(s.pending_interrupt(), Some(Interrupt::FixedIntervalTimer));
    s.external_pending = true;
    assert_eq!(s.pending_interrupt(), Some(Interrupt::External));
    s.tcr |= tcr::WIE;
    assert_eq!(s.pending_interrupt(), Some(Interrupt::External), "watchdog needs CE");
    s.msr = msr::CE;
    assert_eq!(s.pending_interrupt(), Some(Interrupt::Watchdog));
    s.critical_pending = true;
    assert_eq!(s.pending_interrupt(), Some(Interrupt::CriticalInput));
    s.msr = 0;
    assert_eq!(s.pending_interrupt(), None);
}

#[test]
fn register_helpers_mask_the_index() {
    let mut s = state();
    s.set_reg(35, 7);
    assert_eq!(s.reg(3), 7);
    assert_eq!(s.reg_or_zero(0), 0);
    s.set_reg(0, 9);
    assert_eq!(s.reg_or_zero(0), 0);
    assert_eq!(s.reg(0), 9);
}

#[test]
fn edge_counting_is_exact_at_the_top_bit() {
    assert_eq!(rising_edges(0, u64::MAX, 63), 1);
    assert_eq!(rising_edges(0, u64::MAX, 0), 1 << 63);
    assert_eq!(rising_edges(5, 5, 0), 0);
    assert_eq!(rising_edges(9, 5, 0), 0);
    assert_eq!(next_rising_edge(u64::MAX, 0), None);
    assert_eq!(next_rising_edge(0, 0), Some(1));
    assert_eq!(next_rising_edge(1, 0), Some(3));
}

/// What `update_timers` computes, counted directly from the last update with no cached
/// edges and no shortcuts (the algorithm before the edge cache): the reference.
fn reference_update(s: &VcpuState, timebase: u64) -> (u32, Option<u64>, Option<WatchdogReset>) {
    let mut r = s.clone();
    if let Some(deadline) = r.dec_deadline {
        if deadline <= timebase {
            r.tsr |= tsr::DIS;
            r.dec_deadline = if r.tcr & tcr::ARE != 0 && r.decar != 0 {
                let period = u64::from(r.decar);
                deadline.checked_add(((timebase - deadline) / period + 1).saturating_mul(period))
            } else {
                None
            };
        }
    }
    let from = r.timers_checked_at;
    if timebase > from {
        if rising_edges(from, timebase, r.fit_bit()) > 0 {
            r.tsr |= tsr::FIS;
        }
        for _ in 0..rising_edges(from, timebase, r.watchdog_bit()).min(3) {
            r.watchdog_expiry();
        }
    }
    (r.tsr, r.dec_deadline, r.watchdog_reset)
}

/// The next enabled event, from the bit arithmetic directly.
fn reference_deadline(s: &VcpuState) -> Option<u64> {
    let fit = (s.tcr & tcr::FIE != 0 && s.tsr & tsr::FIS == 0).then(|| next_rising_edge(s.timers_checked_at, s.fit_bit())).flatten();
    let watchdog = ((s.tcr & tcr::WIE != 0 && s.tsr & tsr::WIS == 0) || s.tcr & tcr::WRC != 0)
        .then(|| next_rising_edge(s.timers_checked_at, s.watchdog_bit()))
        .flatten();
    let dec = (s.tcr & tcr::DIE != 0 && s.tsr & tsr::DIS == 0).then_some(s.dec_deadline).flatten();
    [dec, fit, watchdog].into_iter().flatten().min().filter(|&t| t != u64::MAX)
}

#[test]
fn cached_timer_edges_agree_with_counting_every_edge() {
    let mut x: u64 = 0x7153_a11e_d9e5_0001;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut fit, mut dec, mut resets) = (0, 0, 0);
    for _ in 0..200 {
        let mut tb = next() >> 8;
        let mut s = VcpuState::new(CpuModel::E500V2, 0, tb);
        for _ in 0..200 {
            match next() % 6 {
                // Short periods (so that events happen), any enables, set-once WRC.
                0 => {
                    let enables = next() as u32 & (tcr::DIE | tcr::FIE | tcr::WIE | tcr::ARE | tcr::WRC);
                    let (fit, wd) = (10 + (next() % 22) as u32, 10 + (next() % 22) as u32);
                    s.write_tcr(enables | period(fit) | bits_wd(wd), tb);
                }
                1 => s.write_dec((next() % 100_000) as u32, tb),
                2 => s.decar = (next() % 50_000) as u32,
                3 => s.tsr &= !(next() as u32),
                _ => {}
            }
            // Mostly forward, sometimes far, now and then not at all.
            tb = tb.wrapping_add(match next() % 4 {
                0 => 0,
                1 => next() % 1_000_000_000,
                _ => next() % 100_000,
            });
            let expected = reference_update(&s, tb);
            let before = s.tsr;
            s.update_timers(tb);
            assert_eq!((s.tsr, s.dec_deadline, s.watchdog_reset), expected);
            fit += u32::from((s.tsr & !before) & tsr::FIS != 0);
            dec += u32::from((s.tsr & !before) & tsr::DIS != 0);
            resets += u32::from(s.watchdog_reset.is_some());
            assert_eq!(s.next_timer_deadline(), reference_deadline(&s));
            if next() % 8 == 0 {
                let _ = s.take_watchdog_reset();
            }
        }
    }
    assert!(fit > 1000 && dec > 1000 && resets > 100, "{fit} {dec} {resets}");
}

/// TCR[FPEXT]||TCR[FP] selecting FIT timebase bit `bit` (0 = LSB).
fn period(bit: u32) -> u32 {
    let n = 63 - bit;
    (n & 3) << tcr::FP_SHIFT | (n >> 2) << tcr::FPEXT_SHIFT
}

/// TCR[WPEXT]||TCR[WP] selecting watchdog timebase bit `bit`.
fn bits_wd(bit: u32) -> u32 {
    let n = 63 - bit;
    (n & 3) << tcr::WP_SHIFT | (n >> 2) << tcr::WPEXT_SHIFT
}

/// The Book E timers counted from the architecture alone, for the tests below: every 0→1
/// edge of the FIT and watchdog bits over each stretch of time under the TCR in force
/// during it, dated from this reference's own last update. Nothing is taken from the
/// model's bookkeeping (its cached edges, quiet window or `timers_checked_at`).
struct Counted {
    tcr: u32,
    tsr: u32,
    decar: u32,
    dec_deadline: Option<u64>,
    at: u64,
    reset: Option<WatchdogReset>,
}

impl Counted {
    fn new(timebase: u64) -> Self {
        Counted { tcr: 0, tsr: 0, decar: 0, dec_deadline: None, at: timebase, reset: None }
    }

    /// 0→1 edges of timebase bit `bit` in (from, to]: the values k·2^(bit+1) + 2^bit.
    fn edges(from: u64, to: u64, bit: u32) -> i128 {
        let (half, period) = (1i128 << bit, 1i128 << (bit + 1));
        let up_to = |x: u64| (i128::from(x) - half).div_euclid(period) + 1;
        up_to(to) - up_to(from)
    }

    fn bit(tcr: u32, low: u32, low_shift: u32, ext: u32, ext_shift: u32) -> u32 {
        63 - (((tcr & ext) >> ext_shift) << 2 | (tcr & low) >> low_shift)
    }

    fn fit_bit(&self) -> u32 {
        Self::bit(self.tcr, tcr::FP, tcr::FP_SHIFT, tcr::FPEXT, tcr::FPEXT_SHIFT)
    }

    fn watchdog_bit(&self) -> u32 {
        Self::bit(self.tcr, tcr::WP, tcr::WP_SHIFT, tcr::WPEXT, tcr::WPEXT_SHIFT)
    }

    fn update(&mut self, timebase: u64) {
        if let Some(deadline) = self.dec_deadline.filter(|&d| d <= timebase) {
            self.tsr |= tsr::DIS;
            self.dec_deadline = (self.tcr & tcr::ARE != 0 && self.decar != 0)
                .then(|| {
                    let period = u64::from(self.decar);
                    deadline.checked_add(((timebase - deadline) / period + 1).checked_mul(period)?)
                })
                .flatten();
        }
        if timebase <= self.at {
            return;
        }
        if Self::edges(self.at, timebase, self.fit_bit()) > 0 {
            self.tsr |= tsr::FIS;
        }
        for _ in 0..Self::edges(self.at, timebase, self.watchdog_bit()).min(3) {
            if self.tsr & tsr::ENW == 0 {
                self.tsr |= tsr::ENW;
            } else if self.tsr & tsr::WIS == 0 {
                self.tsr |= tsr::WIS;
            } else {
                let wrc = (self.tcr & tcr::WRC) >> tcr::WRC_SHIFT;
                if wrc != 0 {
                    self.tsr = (self.tsr & !tsr::WRS) | wrc << tsr::WRS_SHIFT;
                    self.reset.get_or_insert([WatchdogReset::Core, WatchdogReset::Chip, WatchdogReset::System][wrc as usize - 1]);
                }
            }
        }
        self.at = timebase;
    }

    fn write_tcr(&mut self, value: u32) {
        let wrc = if self.tcr & tcr::WRC != 0 { self.tcr & tcr::WRC } else { value & tcr::WRC };
        self.tcr = (value & tcr::IMPLEMENTED & !tcr::WRC) | wrc;
    }

    /// The first edge of `bit` after the last update, by stepping over its periods.
    fn next_edge(&self, bit: u32) -> Option<u64> {
        let (half, period) = (1u128 << bit, 1u128 << (bit + 1));
        let at = u128::from(self.at);
        let k = if at < half { 0 } else { (at - half) / period + 1 };
        u64::try_from(k * period + half).ok().filter(|&t| t != u64::MAX)
    }

    fn next_deadline(&self) -> Option<u64> {
        let dec = (self.tcr & tcr::DIE != 0 && self.tsr & tsr::DIS == 0).then_some(self.dec_deadline).flatten();
        let fit = (self.tcr & tcr::FIE != 0 && self.tsr & tsr::FIS == 0).then(|| self.next_edge(self.fit_bit())).flatten();
        let watchdog_counts = (self.tcr & tcr::WIE != 0 && self.tsr & tsr::WIS == 0) || self.tcr & tcr::WRC != 0;
        let watchdog = watchdog_counts.then(|| self.next_edge(self.watchdog_bit())).flatten();
        [dec, fit, watchdog].into_iter().flatten().min().filter(|&t| t != u64::MAX)
    }

    fn assert_agrees(&self, s: &VcpuState, what: &str) {
        assert_eq!((s.tsr, s.tcr, s.dec_deadline, s.watchdog_reset), (self.tsr, self.tcr, self.dec_deadline, self.reset), "{what} at {}", self.at);
        assert_eq!(s.next_timer_deadline(), self.next_deadline(), "next deadline after {what} at {}", self.at);
    }
}

#[test]
fn timer_writes_between_quiet_updates_agree_with_counting_every_edge() {
    // Guest-like sequences: many updates inside the quiet window (the trap path's
    // `update_timers` on each emulated instruction), with TCR, DEC, DECAR and TSR written
    // at random times in between, each write after the update that dates it, as the
    // emulator does. The model must give what counting every edge gives, after each
    // update and after each write.
    let mut x: u64 = 0x5eed_0f_7ce5_0002;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut fit, mut wis, mut dec, mut resets, mut quiet) = (0, 0, 0, 0, 0u32);
    for _ in 0..300 {
        let mut tb = next() >> 8;
        let mut s = VcpuState::new(CpuModel::E500V2, 0, tb);
        let mut r = Counted::new(tb);
        for _ in 0..300 {
            // Mostly short steps (inside the window), sometimes across an event.
            tb += match next() % 8 {
                0 => 0,
                1 => next() % 50_000_000,
                _ => next() % 20_000,
            };
            quiet += u32::from(s.timers_quiet(tb));
            let before = s.tsr;
            s.update_timers(tb);
            r.update(tb);
            r.assert_agrees(&s, "update");
            fit += u32::from((s.tsr & !before) & tsr::FIS != 0);
            wis += u32::from((s.tsr & !before) & tsr::WIS != 0);
            dec += u32::from((s.tsr & !before) & tsr::DIS != 0);
            resets += u32::from(s.watchdog_reset.is_some());
            let what = match next() % 8 {
                0 => {
                    // Short periods (timebase bits 8-25) so that events happen.
                    let enables = next() as u32 & (tcr::DIE | tcr::FIE | tcr::WIE | tcr::ARE);
                    let wrc = if next() % 16 == 0 { next() as u32 & tcr::WRC } else { 0 };
                    // Half of them keep the periods (only enables, ARE, WRC change: the
                    // cached edges stay).
                    let periods = if next() % 2 == 0 {
                        s.tcr & (tcr::FP | tcr::FPEXT | tcr::WP | tcr::WPEXT)
                    } else {
                        period(8 + (next() % 18) as u32) | bits_wd(8 + (next() % 18) as u32)
                    };
                    let value = enables | wrc | periods;
                    s.write_tcr(value, tb);
                    r.write_tcr(value);
                    "TCR write"
                }
                1 => {
                    let value = if next() % 8 == 0 { 0 } else { (next() % 3_000_000) as u32 };
                    s.write_dec(value, tb);
                    r.dec_deadline = (value != 0).then(|| tb.saturating_add(u64::from(value)));
                    "DEC write"
                }
                2 => {
                    let value = (next() % 200_000) as u32;
                    s.decar = value;
                    r.decar = value;
                    "DECAR write"
                }
                3 | 4 => {
                    let value = next() as u32 & tsr::IMPLEMENTED;
                    s.tsr &= !value;
                    r.tsr &= !value;
                    "TSR write"
                }
                _ => "nothing",
            };
            r.assert_agrees(&s, what);
            if next() % 8 == 0 {
                s.take_watchdog_reset();
                r.reset = None;
            }
        }
    }
    assert!(fit > 1000 && wis > 1000 && dec > 1000 && resets > 100 && quiet > 10_000, "{fit} {wis} {dec} {resets} {quiet}");
}

#[test]
fn watchdog_guest_sequence_takes_its_interrupts_on_time() {
    // tests/guests/ppc/src/bin/watchdog.rs on the model: the timers run quietly for a
    // while after reset (updates inside the window), then the guest clears TSR, writes
    // DEC (the ~1 s one-shot) and TCR (watchdog on bit 21, WIE, DIE) and dozes; its
    // handler clears WIS and ENW. Each interrupt needs two time-outs after the TCR write.
    const BIT: u32 = 21;
    for start in [0u64, 1_234_567, 3 << BIT, (5 << BIT) - 1, 0x1234_5678_9abc] {
        let mut s = VcpuState::new(CpuModel::E500V2, 0, start);
        s.msr = msr::CE | msr::EE;
        let mut tb = start;
        for _ in 0..100 {
            tb += 97_531;
            s.update_timers(tb);
        }
        s.tsr &= !(tsr::WIS | tsr::ENW);
        tb += 40;
        s.update_timers(tb);
        s.write_dec(400_000_000, tb);
        tb += 40;
        s.update_timers(tb);
        s.write_tcr(tcr::WIE | tcr::DIE | bits_wd(BIT), tb);
        let armed = tb;
        let mut taken = std::vec::Vec::new();
        while taken.len() < 3 {
            tb = s.next_timer_deadline().expect("the watchdog counts");
            s.update_timers(tb);
            if s.pending_interrupt() == Some(Interrupt::Watchdog) {
                taken.push(tb);
                tb += 200;
                s.update_timers(tb);
                s.tsr &= !(tsr::WIS | tsr::ENW);
            }
            assert_ne!(s.pending_interrupt(), Some(Interrupt::Decrementer), "the one-shot fired first (from {start})");
        }
        // The n-th interrupt is the watchdog bit's (2n)-th rise after the TCR write (the
        // bit rises at the odd multiples of 2^BIT).
        let first = ((armed >> BIT) + 1) | 1;
        let rise = |n: u64| (first + 2 * (n - 1)) << BIT;
        let expected: std::vec::Vec<u64> = (1..=3).map(|n| rise(2 * n)).collect();
        assert_eq!(taken, expected, "from {start}, TCR written at {armed}");
    }
}
