//! A `fleet worker …` child process for crash tests: started with only the
//! `FLEET_*` settings given (none inherited), killed with SIGKILL on demand
//! and on drop.

use std::process::{Child, Command, Stdio};

/// A running worker process.
#[derive(Debug)]
pub struct WorkerProcess(Child);

impl WorkerProcess {
    /// Runs `bin worker KIND…` with `env` (and `FLEET_LOG=warn` unless given).
    pub fn spawn(bin: &str, kinds: &[&str], env: &[(&str, String)]) -> WorkerProcess {
        let mut cmd = Command::new(bin);
        for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("FLEET_")) {
            cmd.env_remove(name);
        }
        cmd.arg("worker")
            .args(kinds)
            .env("FLEET_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null());
        WorkerProcess(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("spawn {bin} worker {kinds:?}: {e}")),
        )
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Kills it with SIGKILL (no drain, no cleanup) and reaps it.
    pub fn sigkill(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
