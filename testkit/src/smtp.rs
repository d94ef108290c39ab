//! A real SMTP server for the email tests: `testkit/python/smtp_sink.py`
//! (aiosmtpd) on a free port, run by the test venv's Python
//! (`FLEET_TEST_PYTHON`, made by scripts/test from tests/requirements.txt).
//! Each accepted message lands as a `.eml` file with a `.json` summary beside it.

use crate::{free_port, unique, wait_for};
use serde_json::Value;
use std::{path::PathBuf, process::Child, time::Duration};

/// An SMTP sink process; killed when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    reject: Vec<String>,
    child: Option<Child>,
}

impl SmtpSink {
    /// Starts a sink accepting every recipient and waits until it greets.
    pub async fn start() -> SmtpSink {
        SmtpSink::rejecting(&[]).await
    }

    /// Starts a sink that refuses these recipients with `550` at RCPT TO.
    pub async fn rejecting(reject: &[&str]) -> SmtpSink {
        let mut sink = SmtpSink::stopped(reject);
        sink.resume().await;
        sink
    }

    /// A sink with its port chosen but not running yet (nothing accepts there): see [`SmtpSink::resume`].
    pub fn stopped(reject: &[&str]) -> SmtpSink {
        let dir = std::env::temp_dir().join(unique("fleet-smtp-"));
        std::fs::create_dir_all(&dir).expect("create the sink directory");
        SmtpSink {
            port: free_port(),
            dir,
            reject: reject.iter().map(|r| (*r).to_owned()).collect(),
            child: None,
        }
    }

    /// `smtp://127.0.0.1:PORT?tls=none`, the `notify.smtp_url` that reaches it.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Starts the process (again) on the same port and directory and waits until it greets.
    pub async fn resume(&mut self) {
        self.stop();
        let python = std::env::var("FLEET_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/smtp_sink.py");
        let mut cmd = std::process::Command::new(&python);
        cmd.arg(script)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null());
        for r in &self.reject {
            cmd.arg("--reject").arg(r);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("start the SMTP sink with `{python}` (aiosmtpd from tests/requirements.txt; ./scripts/test sets FLEET_TEST_PYTHON): {e}")
        });
        self.child = Some(child);
        let port = self.port;
        wait_for(
            "the SMTP sink to greet",
            Duration::from_secs(20),
            || async move {
                use tokio::io::AsyncReadExt;
                let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()?;
                let mut greeting = [0u8; 3];
                conn.read_exact(&mut greeting).await.ok()?;
                (&greeting == b"220").then_some(())
            },
        )
        .await;
    }

    /// Stops the process (SIGKILL); the messages received so far stay readable.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The summaries of the messages received so far, in arrival order: `mail_from`,
    /// `rcpt_tos`, `headers` (lower-case names), `content_type`, `text` and `html` parts,
    /// as Python's `email` package parsed them.
    pub fn messages(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect()
    }

    /// The raw `.eml` files received so far, in arrival order.
    pub fn raw_messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
