//! Booting an emulated machine: QEMU or Bochs, with the serial console captured as a
//! byte stream and the hypervisor log written to a file.
//!
//! Bochs's COM1 is a file the runner follows, or, when the boot takes console input
//! (scripted or the user's), a TCP connection: Bochs (`mode=socket-client`) connects to a
//! port the runner listens on, and the console's bytes come and go over it.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::boards::{Board, Machine};

/// What to boot and where its files go.
pub struct Boot<'a> {
    pub board: &'a Board,
    pub elf: &'a Path,
    pub dtb: &'a Path,
    /// Directory for this run's files (serial, log, ISO).
    pub dir: &'a Path,
    /// Count guest instructions deterministically (`-icount shift=0`).
    pub icount: bool,
    /// Wait for gdb on :1234 (QEMU only).
    pub gdb: bool,
    /// Give the console to the user's terminal (demo): stdin goes to the machine.
    pub interactive: bool,
    /// Keep a pipe to the console's input (scripted input: [`Running::stdin`]).
    pub scripted_input: bool,
    /// More emulator arguments (QEMU: staged guest images).
    pub extra: Vec<String>,
    /// Staged guest images (the x86 boards put them on the boot medium).
    pub images: &'a [crate::stage::Staged],
}

/// A running machine.
pub struct Running {
    pub child: Child,
    /// The console's input, when the boot asked for scripted input.
    pub input: Option<Box<dyn Write + Send>>,
    /// Serial console bytes as they arrive; closed when the console ends.
    pub serial: mpsc::Receiver<Vec<u8>>,
    pub log: PathBuf,
    /// Exit statuses that mean "the machine powered itself off".
    pub clean_exit: &'static [i32],
    stop_tail: Arc<AtomicBool>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop_tail.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fill(arg: &str, log: &Path) -> String {
    arg.replace("{log}", &log.to_string_lossy())
}

pub fn start(boot: &Boot) -> Result<Running> {
    std::fs::create_dir_all(boot.dir)?;
    let log = boot.dir.join("hv-log.bin");
    let serial_file = boot.dir.join("serial.txt");
    for f in [&log, &serial_file] {
        let _ = std::fs::remove_file(f);
    }
    std::fs::write(&log, b"")?;
    let stop_tail = Arc::new(AtomicBool::new(false));
    let stdin = || match (boot.interactive, boot.scripted_input) {
        (true, _) => Stdio::inherit(),
        (false, true) => Stdio::piped(),
        (false, false) => Stdio::null(),
    };

    // Bochs with console input: COM1 connects to this listener.
    let mut listener = None;
    let (mut cmd, clean_exit, serial_in_file): (Command, &'static [i32], bool) = match boot.board.machine {
        Machine::Qemu { binary, args, log_args } => {
            let mut c = Command::new(binary);
            c.args(args)
                .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
                .args(log_args.iter().map(|a| fill(a, &log)))
                .arg("-dtb")
                .arg(boot.dtb)
                .arg("-kernel")
                .arg(boot.elf)
                .args(&boot.extra);
            qemu_options(&mut c, boot);
            (c, &[0], false)
        }
        Machine::QemuIso { binary, args, log_args } => {
            let iso = crate::x86iso::make(boot.elf, boot.dtb, boot.images, boot.dir)?;
            let mut c = Command::new(binary);
            c.args(args)
                .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
                .args(log_args.iter().map(|a| fill(a, &log)))
                .arg("-cdrom")
                .arg(iso);
            qemu_options(&mut c, boot);
            // isa-debug-exit turns the hypervisor's "exit 0" into status 1.
            (c, &[1], false)
        }
        Machine::Bochs { rc_template } => {
            let iso = crate::x86iso::make(boot.elf, boot.dtb, boot.images, boot.dir)?;
            if boot.gdb || boot.icount {
                eprintln!("note: --gdb and --icount apply to QEMU boards only; ignored for Bochs");
            }
            let com1 = if boot.interactive || boot.scripted_input {
                let l = TcpListener::bind("127.0.0.1:0").context("listening for Bochs's COM1")?;
                let port = l.local_addr()?.port();
                listener = Some(l);
                format!("mode=socket-client, dev=\"localhost:{port}\"")
            } else {
                format!("mode=file, dev=\"{}\"", serial_file.display())
            };
            // Bochs leaves through the 0x8900 "Shutdown" port with status 1.
            (bochs(rc_template, &iso, &com1, &log, boot.dir)?, &[1], listener.is_none())
        }
    };
    if !serial_in_file && listener.is_none() {
        cmd.stdout(Stdio::piped());
    }
    // Bochs's own terminal is its (text) display, not the console: its stdin stays shut.
    let stdin = if listener.is_some() { Stdio::null() } else { stdin() };
    cmd.stdin(stdin).current_dir(boot.dir);
    let program = format!("{:?}", cmd.get_program());
    let mut child = cmd.spawn().with_context(|| format!("starting {program} (run scripts/setup.sh)"))?;

    let (tx, rx) = mpsc::channel();
    let mut input: Option<Box<dyn Write + Send>> = None;
    if let Some(l) = listener {
        let stream = accept_console(&l, &mut child)?;
        let mut copy = std::fs::File::create(&serial_file)?;
        let mut out = stream.try_clone()?;
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                let _ = copy.write_all(&buf[..n]);
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        if boot.interactive {
            let mut to_bochs = stream.try_clone()?;
            std::thread::spawn(move || forward_keyboard(&mut to_bochs));
        }
        input = Some(Box::new(stream));
    } else if serial_in_file {
        let stop = stop_tail.clone();
        std::thread::spawn(move || tail_file(&serial_file, &tx, &stop));
    } else {
        let Some(mut out) = child.stdout.take() else { bail!("no stdout from {program}") };
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
    }
    if let Some(stdin) = child.stdin.take() {
        input = Some(Box::new(stdin));
    }
    Ok(Running { child, input, serial: rx, log, clean_exit, stop_tail })
}

/// Bochs connecting COM1 to the runner (at its device set-up, before the BIOS runs).
fn accept_console(l: &TcpListener, child: &mut Child) -> Result<TcpStream> {
    l.set_nonblocking(true)?;
    let start = std::time::Instant::now();
    loop {
        match l.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("accepting Bochs's COM1 connection"),
        }
        if let Some(status) = child.try_wait()? {
            bail!("bochs exited ({status}) before connecting its COM1");
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("bochs did not connect its COM1 within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The user's typing (the demo) to Bochs's COM1, Enter as the carriage return a serial
/// terminal sends (the terminal stays in line mode: a line goes when Enter is pressed).
fn forward_keyboard(to: &mut TcpStream) {
    let mut buf = [0u8; 256];
    while let Ok(n) = std::io::stdin().read(&mut buf) {
        if n == 0 {
            return;
        }
        let bytes: Vec<u8> = buf[..n].iter().map(|&b| if b == b'\n' { b'\r' } else { b }).collect();
        if to.write_all(&bytes).is_err() {
            return;
        }
    }
}

/// Bochs booting `iso` with the board's configuration template, COM1 as `com1` (its mode
/// and device) and the log into a file; its own output into `dir/bochs-screen.txt`.
fn bochs(rc_template: &str, iso: &Path, com1: &str, log: &Path, dir: &Path) -> Result<Command> {
    let template =
        std::fs::read_to_string(crate::workspace_root().join(rc_template)).with_context(|| format!("reading {rc_template}"))?;
    let rc = template
        .replace("@ISO@", &iso.to_string_lossy())
        .replace("@COM1@", com1)
        .replace("@DEFMT@", &log.to_string_lossy());
    let rc_path = dir.join("bochsrc");
    std::fs::write(&rc_path, rc)?;
    let cmds = dir.join("bochs-debugger-cmds");
    std::fs::write(&cmds, "c\nquit\n")?;
    let mut c = Command::new("bochs");
    c.arg("-q").arg("-f").arg(&rc_path).arg("-rc").arg(&cmds);
    let screen = std::fs::File::create(dir.join("bochs-screen.txt"))?;
    c.stdout(screen.try_clone()?).stderr(screen);
    Ok(c)
}

fn qemu_options(c: &mut Command, boot: &Boot) {
    if boot.icount {
        c.args(["-icount", "shift=0,align=off,sleep=off"]);
    }
    if boot.gdb {
        eprintln!("waiting for gdb: target remote :1234");
        c.args(["-s", "-S"]);
    }
}

/// Streams a file another process is writing, until `stop`.
fn tail_file(path: &Path, tx: &mpsc::Sender<Vec<u8>>, stop: &AtomicBool) {
    let mut file = None;
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        if file.is_none() {
            file = std::fs::File::open(path).ok();
        }
        let n = file.as_mut().and_then(|f| f.read(&mut buf).ok()).unwrap_or(0);
        if n == 0 {
            std::thread::sleep(Duration::from_millis(20));
        } else if tx.send(buf[..n].to_vec()).is_err() {
            return;
        }
    }
}

/// Runs test guest `elf` alone on the board's plain machine (no hypervisor) and returns its
/// console lines, for comparison with the same guest run as a partition.
pub fn run_native(board: &Board, elf: &Path, timeout: Duration) -> Result<Vec<String>> {
    let Some((binary, args)) = board.native else { bail!("board {} has no native machine", board.name) };
    if let Machine::Bochs { rc_template } = board.machine {
        return run_native_bochs(rc_template, elf, timeout);
    }
    let mut child = Command::new(binary)
        .args(args)
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio", "-kernel"])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {binary}"))?;
    let Some(mut out) = child.stdout.take() else { bail!("no stdout from {binary}") };
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = out.read_to_end(&mut all);
        all
    });
    wait_native(&mut child, elf, timeout)?;
    let all = reader.join().map_err(|_| anyhow::anyhow!("console reader failed"))?;
    Ok(console_lines(&all))
}

/// Waits for a native run of `elf` to power off; kills it after `timeout`.
fn wait_native(child: &mut Child, elf: &Path, timeout: Duration) -> Result<()> {
    let start = std::time::Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{} did not power off within {}s when run natively", elf.display(), timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn console_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes).lines().map(|l| l.trim_end_matches('\r').to_string()).collect()
}

/// [`run_native`] on Bochs: GRUB boots the guest as a Multiboot kernel (its console is
/// COM1, in a file; it leaves through the shutdown port).
fn run_native_bochs(rc_template: &str, elf: &Path, timeout: Duration) -> Result<Vec<String>> {
    let name = elf.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = crate::workspace_root().join("target/runs").join(format!("native-bochs-{name}"));
    std::fs::create_dir_all(&dir)?;
    let (serial, log) = (dir.join("serial.txt"), dir.join("log.bin"));
    let _ = std::fs::remove_file(&serial);
    let iso = crate::x86iso::make_native(elf, &dir)?;
    let com1 = format!("mode=file, dev=\"{}\"", serial.display());
    let mut child = bochs(rc_template, &iso, &com1, &log, &dir)?.stdin(Stdio::null()).current_dir(&dir).spawn().context("starting bochs")?;
    wait_native(&mut child, elf, timeout)?;
    Ok(console_lines(&std::fs::read(&serial).unwrap_or_default()))
}
