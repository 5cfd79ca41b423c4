//! A vCPU's device interrupts: the glue between its partition's MPIC model
//! ([`crate::vmpic`]) and the real MPIC ([`crate::mpic`]). See docs/booke-emulation.md, "MPIC".

use crate::guest::Guest;
use crate::vmpic::Vmpic;

impl Guest<'_> {
    /// Gives the partition the MPIC sources of `devices` (their interrupts): they are
    /// routed to this core, masked until the guest unmasks them in its model, and this
    /// core starts taking MPIC interrupts. Without sources nothing changes at the MPIC.
    pub fn assign_sources(&mut self, devices: &[hv::config::Device]) {
        self.vmpic = Vmpic::empty(1);
        for d in devices {
            for &irq in &d.irqs {
                self.vmpic.own(irq);
            }
        }
        self.hw_unmasked = 0;
        let mpic = self.real_mpic();
        let cpu = crate::percpu::this_cpu();
        for s in self.vmpic.owned() {
            mpic.route(s, cpu);
        }
        if self.vmpic.owned().next().is_some() {
            mpic.open_this_cpu();
        }
    }

    pub(crate) fn real_mpic(&self) -> crate::mpic::Mpic {
        // SAFETY: `Setup::ccsr_va` maps the real CCSR for the hypervisor's lifetime (the
        // board's contract), the MPIC window inside it.
        unsafe { crate::mpic::Mpic::new(self.setup.ccsr_va + crate::vmpic::CCSR_OFFSET as usize) }
    }

    /// After any change to the model: the guest's external input follows its output, and
    /// the real sources' masks follow [`Vmpic::hw_unmasked`].
    pub(crate) fn mpic_changed(&mut self) {
        self.state.external_pending = self.vmpic.output(0);
        let want = self.vmpic.hw_unmasked();
        let diff = want ^ self.hw_unmasked;
        if diff != 0 {
            let mpic = self.real_mpic();
            for (i, s) in self.vmpic.owned().enumerate().filter(|(i, _)| diff & 1 << i != 0) {
                mpic.set_masked(s, want & 1 << i == 0);
            }
            self.hw_unmasked = want;
        }
    }

    /// Takes the MPIC interrupts pending at this core (at most 8 in one go): each is
    /// acknowledged, masked and ended at the real MPIC and raised in the model.
    pub(crate) fn take_device_interrupts(&mut self) {
        let mpic = self.real_mpic();
        for _ in 0..8 {
            let Some(source) = mpic.acknowledge() else { break };
            mpic.set_masked(source, true);
            mpic.eoi();
            let slot = self.vmpic.owned().position(|s| s == source);
            if let Some(i) = slot {
                self.hw_unmasked &= !(1 << i);
                self.vmpic.raise(source);
            }
        }
        self.mpic_changed();
    }
}
