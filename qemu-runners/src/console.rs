//! Watching a machine's serial console: echo it, match the expected patterns in order,
//! and say exactly why a run failed (with the last lines seen and the hypervisor log).

use anyhow::Result;
use regex::Regex;
use std::collections::VecDeque;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::hvlog::LogTail;
use crate::machine::Running;

/// Lines of console kept for the failure report.
const TAIL_LINES: usize = 40;

pub struct Expect {
    /// Patterns that must each match a console line, in this order.
    pub patterns: Vec<Regex>,
    /// Patterns no console line may match (e.g. a hypervisor panic).
    pub forbidden: Vec<Regex>,
    pub timeout: Duration,
    /// After the last pattern, the machine must power itself off (cleanly) in time.
    pub poweroff: bool,
    /// Console input, in order: when the pattern matches a line or the unfinished last
    /// line (a prompt), type the text. Each trigger only sees output that arrived after
    /// the previous text was typed.
    pub input: Vec<(Regex, String)>,
}

pub struct Outcome {
    pub passed: bool,
    /// Why it failed (empty on success).
    pub why: String,
    pub tail: VecDeque<String>,
    /// Every console line, in order.
    pub lines: Vec<String>,
    pub log: Vec<String>,
    pub elapsed: Duration,
}

/// How console lines are shown while the machine runs.
pub enum Echo<'a> {
    /// Print each line with this prefix.
    Prefixed(&'a str),
    /// Print nothing (the report shows the tail on failure).
    Quiet,
}

pub fn watch(running: &mut Running, log: Option<&mut LogTail>, expect: &Expect, echo: Echo) -> Result<Outcome> {
    let start = Instant::now();
    let mut log = log;
    let mut partial: Vec<u8> = Vec::new();
    let mut tail = VecDeque::new();
    let mut lines = Vec::new();
    let mut all_log = Vec::new();
    let mut next = 0usize;
    let mut next_input = 0usize;
    // Lines completed when the last input was typed: later triggers need newer output.
    let mut typed_at_line = None::<usize>;
    let mut exited: Option<std::process::ExitStatus> = None;
    let mut failure: Option<String> = None;

    let mut completed = 0usize;
    let mut on_line = |line: String, next: &mut usize, failure: &mut Option<String>| {
        if let Echo::Prefixed(p) = echo {
            println!("{p}{line}");
        }
        for f in &expect.forbidden {
            if failure.is_none() && f.is_match(&line) {
                *failure = Some(format!("console printed a forbidden line (/{f}/): {line}"));
            }
        }
        while *next < expect.patterns.len() && expect.patterns[*next].is_match(&line) {
            *next += 1;
        }
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.clone());
        lines.push(line);
    };

    loop {
        let matched_all = next == expect.patterns.len();
        if failure.is_some() || exited.is_some() || (matched_all && !expect.poweroff) {
            break;
        }
        if start.elapsed() > expect.timeout {
            break;
        }
        match running.serial.recv_timeout(Duration::from_millis(50)) {
            Ok(bytes) => {
                partial.extend_from_slice(&bytes);
                while let Some(pos) = partial.iter().position(|&b| b == b'\n') {
                    let raw: Vec<u8> = partial.drain(..=pos).collect();
                    let line = String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
                    let candidate = line.clone();
                    on_line(line, &mut next, &mut failure);
                    completed += 1;
                    type_input(&candidate, completed, &mut next_input, &mut typed_at_line, expect, running)?;
                }
                let unfinished = String::from_utf8_lossy(&partial).to_string();
                type_input(&unfinished, completed + 1, &mut next_input, &mut typed_at_line, expect, running)?;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(20)),
        }
        if let Some(l) = log.as_deref_mut() {
            for line in l.poll() {
                if let Echo::Prefixed(p) = echo {
                    println!("{p}[hv] {line}");
                }
                all_log.push(line);
            }
        }
        if let Some(status) = running.child.try_wait()? {
            // Give the console reader a moment to deliver the last bytes.
            std::thread::sleep(Duration::from_millis(150));
            while let Ok(bytes) = running.serial.try_recv() {
                partial.extend_from_slice(&bytes);
            }
            for raw in partial.split(|&b| b == b'\n').filter(|r| !r.is_empty()) {
                let line = String::from_utf8_lossy(raw).trim_end_matches('\r').to_string();
                on_line(line, &mut next, &mut failure);
            }
            partial.clear();
            exited = Some(status);
        }
    }
    if let Some(l) = log.as_deref_mut() {
        all_log.extend(l.poll());
    }

    let why = if let Some(f) = failure {
        f
    } else if next < expect.patterns.len() {
        let waiting = &expect.patterns[next];
        match exited {
            Some(s) => format!(
                "machine stopped ({s}) before /{waiting}/ was seen ({next} of {} patterns matched)",
                expect.patterns.len()
            ),
            None => format!(
                "timed out after {}s waiting for /{waiting}/ ({next} of {} patterns matched)",
                expect.timeout.as_secs(),
                expect.patterns.len()
            ),
        }
    } else if expect.poweroff {
        match exited {
            Some(s) if s.code().is_some_and(|c| running.clean_exit.contains(&c)) => String::new(),
            Some(s) => format!("machine did not power off cleanly: {s}"),
            None => format!("machine still running {}s after its last expected line", expect.timeout.as_secs()),
        }
    } else {
        String::new()
    };
    Ok(Outcome { passed: why.is_empty(), why, tail, lines, log: all_log, elapsed: start.elapsed() })
}

/// Types the next scripted input if `text` (line number `line`, counting an unfinished line
/// as the next one) triggers it.
fn type_input(
    text: &str,
    line: usize,
    next_input: &mut usize,
    typed_at_line: &mut Option<usize>,
    expect: &Expect,
    running: &mut Running,
) -> Result<()> {
    let Some((trigger, input)) = expect.input.get(*next_input) else { return Ok(()) };
    if typed_at_line.is_some_and(|at| line <= at) || !trigger.is_match(text) {
        return Ok(());
    }
    if let Some(to) = running.input.as_mut() {
        to.write_all(input.as_bytes())?;
        to.flush()?;
    }
    *typed_at_line = Some(line);
    *next_input += 1;
    Ok(())
}

impl Outcome {
    /// The failure report: why, the last console lines, the hypervisor log.
    pub fn report(&self) -> String {
        let mut s = format!("FAILED: {}\n--- last {} console lines ---\n", self.why, self.tail.len());
        for l in &self.tail {
            s.push_str(l);
            s.push('\n');
        }
        if !self.log.is_empty() {
            s.push_str("--- hypervisor log ---\n");
            for l in self.log.iter().rev().take(TAIL_LINES).rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}
