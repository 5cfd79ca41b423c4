//! `cargo xtask`: bulkhead's host tool. It builds the hypervisor images, checks partition
//! configurations, boots QEMU or Bochs and judges what the serial console prints.
//!
//! One module per job: `setup` (installs what is missing), `cross` (bare-metal builds),
//! `boards` (board facts as data), `qemu_runners::config` (overlays → checked DTB),
//! `machine` (starting emulators), `console` (matching console output), `hvlog` (decoding
//! the hypervisor's defmt log), `x86iso` (GRUB medium), `plan` (what `test` runs).

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use regex::Regex;
use std::path::{Path, PathBuf};
use std::time::Duration;

use qemu_runners::config;

mod boards;
mod code_size;
mod console;
mod cross;
mod hvlog;
mod machine;
mod plan;
mod setup;
mod stage;
mod x86iso;

/// The workspace root (this crate's parent directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("qemu-runners sits in the workspace").to_path_buf()
}

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, configure, boot and test bulkhead")]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Install what this machine lacks (QEMU 7.2, Bochs, Debian's rustc-web, dtc, ...).
    Setup,
    /// Boot the demo: several partitions on one board, each console prefixed with its name.
    Demo {
        #[arg(long, default_value = "qemu-virt-aarch64")]
        board: String,
    },
    /// Run every test: host unit tests, configuration checks, and boots on every board.
    Test {
        /// Only run boot scenarios whose name contains this.
        #[arg(long)]
        only: Option<String>,
    },
    /// Boot a configuration; with --expect, exit 0 only if every pattern is seen in order.
    Run {
        #[arg(long)]
        board: String,
        #[arg(long)]
        config: PathBuf,
        /// A regular expression a console line must match; repeat for several, in order.
        #[arg(long)]
        expect: Vec<String>,
        /// Seconds before giving up.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Deterministic instruction counting (QEMU -icount shift=0).
        #[arg(long)]
        icount: bool,
        /// Wait for gdb on :1234 (QEMU boards).
        #[arg(long)]
        gdb: bool,
        /// Type TEXT (\r, \n understood) when a console line, or the unfinished last line
        /// such as a prompt, matches PATTERN; repeat for a session, in order.
        #[arg(long, num_args = 2, value_names = ["PATTERN", "TEXT"])]
        send: Vec<String>,
        /// Boot even if the host-side check finds errors (to test the hypervisor's own checks).
        #[arg(long, hide = true)]
        no_check: bool,
    },
    /// Validate configurations without booting.
    CheckConfig {
        #[arg(long)]
        board: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the benchmark table.
    Bench {
        #[arg(long, default_value = "qemu-virt-aarch64")]
        board: String,
    },
    /// Print the hypervisor image's sizes and whose code it holds (the end of `bench`).
    Size {
        #[arg(long, default_value = "qemu-virt-aarch64")]
        board: String,
    },
    /// List the boards.
    Boards,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.verb {
        Verb::Setup => setup::ensure(),
        Verb::Demo { board } => demo(&board),
        Verb::Test { only } => plan::test_all(only.as_deref()),
        Verb::Run { board, config, expect, timeout, icount, gdb, send, no_check } => {
            run_cmd(&board, &config, &expect, &send, timeout, icount, gdb, no_check)
        }
        Verb::CheckConfig { board, files } => check_config(&board, &files),
        Verb::Bench { board } => bench(&board),
        Verb::Size { board } => size(&board),
        Verb::Boards => {
            for b in boards::BOARDS {
                println!("{:<26} {}", b.name, b.about);
            }
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Where a run's files go: target/runs/<board>-<config>.
fn run_dir(board: &boards::Board, config: &Path) -> PathBuf {
    let stem = config.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    workspace_root().join("target/runs").join(format!("{}-{stem}", board.name))
}

/// Checks the configuration on the host; prints every error. Err if any. Image files are
/// found next to the configuration, or built when they name a test guest (`guest:<name>`).
fn checked(board: &boards::Board, files: &[PathBuf]) -> Result<()> {
    let resolve = |value: &str| stage::resolve(board, files, value).map(Some);
    let errors = config::check_with(&workspace_root().join(board.dts), files, &resolve)?;
    if errors.is_empty() {
        return Ok(());
    }
    for e in &errors {
        eprintln!("{e}");
    }
    bail!("{} error(s) in the configuration", errors.len())
}

fn check_config(board: &str, files: &[PathBuf]) -> Result<()> {
    let board = boards::find(board)?;
    checked(board, files)?;
    // The shapes, once more, with dt-schema (guest-configs/schema).
    let dir = std::env::temp_dir().join(format!("bulkhead-check-config-{}", std::process::id()));
    let dtb = config::build_dtb(&workspace_root().join(board.dts), files, &dir)?;
    let schema = config::schema_validate(&dtb);
    let _ = std::fs::remove_dir_all(&dir);
    schema?;
    for f in files {
        println!("{}: ok for {}", f.display(), board.name);
    }
    Ok(())
}

/// Everything needed to boot: image built, configuration checked and turned into a DTB.
pub struct Prepared {
    pub board: &'static boards::Board,
    pub elf: PathBuf,
    pub dtb: PathBuf,
    pub dir: PathBuf,
    /// Guest images staged in the board's RAM (loaded by the emulator).
    pub images: Vec<stage::Staged>,
}

/// How a prepared image is booted.
#[derive(Default)]
pub struct BootOptions {
    pub icount: bool,
    pub gdb: bool,
    pub interactive: bool,
}

impl BootOptions {
    fn boot<'a>(&self, p: &'a Prepared, scripted_input: bool) -> machine::Boot<'a> {
        machine::Boot {
            board: p.board,
            elf: &p.elf,
            dtb: &p.dtb,
            dir: &p.dir,
            icount: self.icount,
            gdb: self.gdb,
            interactive: self.interactive,
            scripted_input,
            extra: stage::qemu_args(&p.images),
            images: &p.images,
        }
    }
}

/// Boots a prepared image and watches its console (and hypervisor log) until `expect` is
/// settled.
pub fn boot_and_watch(p: &Prepared, opts: &BootOptions, expect: &console::Expect, echo: console::Echo) -> Result<console::Outcome> {
    let boot = opts.boot(p, !expect.input.is_empty());
    let table = hvlog::load_table(&p.elf)?;
    let mut running = machine::start(&boot)?;
    let mut tail = table.as_ref().map(|t| hvlog::LogTail::new(t, &running.log));
    console::watch(&mut running, tail.as_mut(), expect, echo)
}

pub fn prepare(board: &str, config_file: &Path, check: bool) -> Result<Prepared> {
    prepare_layers(board, std::slice::from_ref(&config_file), check)
}

/// As [`prepare`] for configuration overlays applied in order (a later one may change
/// what an earlier one added); the run directory is named after the last.
pub fn prepare_layers(board: &str, config_files: &[&Path], check: bool) -> Result<Prepared> {
    let board = boards::find(board)?;
    if !(board.available)() {
        bail!("board {} is not available on this machine", board.name);
    }
    let files = config_files
        .iter()
        .map(|f| f.canonicalize().with_context(|| format!("{}", f.display())))
        .collect::<Result<Vec<_>>>()?;
    let Some(last) = files.last() else { bail!("no configuration") };
    if check {
        checked(board, &files)?;
    }
    let dir = run_dir(board, last);
    std::fs::create_dir_all(&dir)?;
    let dtb = config::build_dtb(&workspace_root().join(board.dts), &files, &dir)?;
    let images = stage::stage_images(board, &dtb, &files)?;
    let elf = cross::build(board)?;
    Ok(Prepared { board, elf, dtb, dir, images })
}

#[allow(clippy::too_many_arguments)] // one per command-line option
fn run_cmd(
    board: &str,
    config_file: &Path,
    expect: &[String],
    send: &[String],
    timeout: u64,
    icount: bool,
    gdb: bool,
    no_check: bool,
) -> Result<()> {
    setup::ensure()?;
    let p = prepare(board, config_file, !no_check)?;
    let patterns = expect.iter().map(|e| Regex::new(e).with_context(|| format!("--expect {e}"))).collect::<Result<Vec<_>>>()?;
    let input = send
        .chunks(2)
        .map(|pair| {
            let text = pair[1].replace("\\r", "\r").replace("\\n", "\n");
            Ok((Regex::new(&pair[0]).with_context(|| format!("--send {}", pair[0]))?, text))
        })
        .collect::<Result<Vec<_>>>()?;
    let expect = console::Expect {
        poweroff: patterns.is_empty(),
        patterns,
        forbidden: vec![],
        timeout: Duration::from_secs(if gdb { 24 * 3600 } else { timeout }),
        input,
    };
    let opts = BootOptions { icount, gdb, interactive: false };
    let outcome = boot_and_watch(&p, &opts, &expect, console::Echo::Prefixed(""))?;
    if outcome.passed {
        Ok(())
    } else {
        eprint!("{}", outcome.report());
        std::process::exit(1)
    }
}

fn demo(board: &str) -> Result<()> {
    setup::ensure()?;
    let config = plan::demo_config(board)?;
    println!("bulkhead demo: {board} with {} (Ctrl-C stops it)", config.display());
    let p = prepare(board, &config, true)?;
    let expect =
        console::Expect { patterns: vec![], forbidden: vec![], timeout: Duration::from_secs(3600), poweroff: true, input: vec![] };
    let opts = BootOptions { interactive: true, ..Default::default() };
    let outcome = boot_and_watch(&p, &opts, &expect, console::Echo::Prefixed(""))?;
    if !outcome.passed {
        eprintln!("demo ended: {}", outcome.why);
    }
    Ok(())
}

fn bench(board: &str) -> Result<()> {
    let board = boards::find(board)?;
    plan::bench(board)
}

fn size(board: &str) -> Result<()> {
    let board = boards::find(board)?;
    setup::ensure()?;
    println!("| board | metric | value |");
    println!("|---|---|---|");
    code_size::report(board, &cross::build(board)?)
}
