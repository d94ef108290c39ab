//! The supervisor's worker processes, read from /proc while they run: the
//! kind each serves, its peak RSS and the CPU time it used.

use crate::rss::peak_rss_mib_of;
use std::collections::{BTreeMap, HashMap};

/// What the processes of one kind used.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Usage {
    /// Processes seen.
    pub processes: usize,
    /// The highest peak RSS of any one of them, in MiB.
    pub peak_rss_mib: f64,
    /// CPU seconds (user + system) of all of them.
    pub cpu_secs: f64,
}

/// The last reading of each child process of `parent` seen so far.
pub struct Sampler {
    parent: u32,
    ticks_per_sec: f64,
    seen: HashMap<u32, (String, f64, f64)>,
}

impl Sampler {
    /// Watches the children of process `parent`.
    pub fn new(parent: u32) -> Self {
        // SAFETY: sysconf only reads a configuration value.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Sampler {
            parent,
            ticks_per_sec: if ticks > 0 { ticks as f64 } else { 100.0 },
            seen: HashMap::new(),
        }
    }

    /// Reads every `fleet worker KIND` child of the parent once.
    pub fn sample(&mut self) {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        for pid in entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        {
            let Some((ppid, cpu_ticks)) = stat(pid) else {
                continue;
            };
            if ppid != self.parent {
                continue;
            }
            let Some(kind) = worker_kind(pid) else {
                continue;
            };
            let rss = peak_rss_mib_of(&pid.to_string());
            self.seen
                .insert(pid, (kind, rss, cpu_ticks as f64 / self.ticks_per_sec));
        }
    }

    /// What each kind used, over every process seen.
    pub fn by_kind(&self) -> BTreeMap<String, Usage> {
        let mut kinds: BTreeMap<String, Usage> = BTreeMap::new();
        for (kind, rss, cpu) in self.seen.values() {
            let usage = kinds.entry(kind.clone()).or_default();
            usage.processes += 1;
            usage.peak_rss_mib = usage.peak_rss_mib.max(*rss);
            usage.cpu_secs += cpu;
        }
        kinds
    }
}

/// `(ppid, utime + stime in clock ticks)` of `pid`.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = text
        .get(text.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// The KIND of a `fleet … worker KIND` command line.
fn worker_kind(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let at = args.iter().position(|a| *a == b"worker")?;
    String::from_utf8(args.get(at + 1)?.to_vec()).ok()
}
