//! The hypervisor's defmt log: frames arrive on the board's log channel (semihosting,
//! a second UART, COM2) into a file; they are decoded here with the format-string table
//! from the hypervisor's ELF. See hv/src/log.rs for the target side.

use anyhow::{Context, Result};
use defmt_decoder::{DecodeError, StreamDecoder, Table};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads the format-string table out of the hypervisor ELF (None if it logs nothing).
pub fn load_table(elf: &Path) -> Result<Option<Table>> {
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    Table::parse(&bytes).with_context(|| format!("reading the defmt table of {}", elf.display()))
}

/// Follows a growing log file and decodes the frames that have arrived.
pub struct LogTail<'t> {
    decoder: Box<dyn StreamDecoder + Send + Sync + 't>,
    path: PathBuf,
    file: Option<File>,
    malformed: usize,
}

impl<'t> LogTail<'t> {
    pub fn new(table: &'t Table, path: &Path) -> Self {
        LogTail { decoder: table.new_stream_decoder(), path: path.to_owned(), file: None, malformed: 0 }
    }

    /// Decodes every complete frame received since the last call, one line each.
    pub fn poll(&mut self) -> Vec<String> {
        if self.file.is_none() {
            self.file = File::open(&self.path).ok();
        }
        let mut lines = Vec::new();
        let Some(file) = self.file.as_mut() else { return lines };
        let mut buf = Vec::new();
        if file.read_to_end(&mut buf).is_err() || buf.is_empty() {
            return lines;
        }
        self.decoder.received(&buf);
        loop {
            match self.decoder.decode() {
                Ok(frame) => {
                    let level = frame.level().map(|l| l.as_str().to_uppercase()).unwrap_or_default();
                    lines.push(format!("{level:<5} {}", frame.display_message()));
                }
                Err(DecodeError::UnexpectedEof) => break,
                Err(DecodeError::Malformed) => {
                    self.malformed += 1;
                    if self.malformed == 1 {
                        lines.push("(malformed defmt frame skipped: is the ELF the one that ran?)".into());
                    }
                }
            }
        }
        lines
    }
}
