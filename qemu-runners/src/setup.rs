//! The one setup step (`scripts/setup.sh`), run before anything that needs the
//! cross toolchain or the emulators. It is idempotent and quick when nothing is missing.

use anyhow::{bail, Context, Result};
use std::process::Command;

use crate::workspace_root;

pub fn ensure() -> Result<()> {
    let script = workspace_root().join("scripts/setup.sh");
    let status = Command::new("bash")
        .arg(&script)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("{} failed ({status}); see its output above", script.display());
    }
    Ok(())
}
