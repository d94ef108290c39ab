//! A real SMTP server for the email tests: `testkit/python/smtp_sink.py`
//! (aiosmtpd) on a free port, run by the test venv's Python
//! (`FLEET_TEST_PYTHON`, made by scripts/test from tests/requirements.txt).
//! Each accepted message lands as a `.eml` file with a `.json` summary beside it.
//! With TLS, the sink presents a certificate for 127.0.0.1 issued by a CA made
//! for it (openssl), which the client must be told to trust.

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
    tls: Option<SinkTls>,
    child: Option<Child>,
}

/// How a sink speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkTls {
    /// Plain text until STARTTLS, which it requires before accepting mail.
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
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
            tls: None,
            child: None,
        }
    }

    /// Starts a sink speaking TLS as `mode` with a certificate made for it: trust [`SmtpSink::ca_file`].
    pub async fn with_tls(mode: SinkTls) -> SmtpSink {
        let mut sink = SmtpSink::stopped(&[]);
        make_certificates(&sink.dir);
        sink.tls = Some(mode);
        sink.resume().await;
        sink
    }

    /// The CA certificate (PEM) that issued a TLS sink's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("tls").join("ca.pem")
    }

    /// The `notify.smtp_url` that reaches it: `smtp://127.0.0.1:PORT?tls=none`,
    /// `…?tls=required` with STARTTLS, `smtps://…` with implicit TLS.
    pub fn url(&self) -> String {
        match self.tls {
            None => format!("smtp://127.0.0.1:{}?tls=none", self.port),
            Some(SinkTls::StartTls) => format!("smtp://127.0.0.1:{}?tls=required", self.port),
            Some(SinkTls::Implicit) => format!("smtps://127.0.0.1:{}", self.port),
        }
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
        if let Some(mode) = self.tls {
            let tls = self.dir.join("tls");
            cmd.arg("--cert")
                .arg(tls.join("cert.pem"))
                .arg("--key")
                .arg(tls.join("key.pem"));
            if mode == SinkTls::Implicit {
                cmd.arg("--implicit-tls");
            }
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("start the SMTP sink with `{python}` (aiosmtpd from tests/requirements.txt; ./scripts/test sets FLEET_TEST_PYTHON): {e}")
        });
        self.child = Some(child);
        let (port, plain) = (self.port, self.tls != Some(SinkTls::Implicit));
        wait_for(
            "the SMTP sink to greet",
            Duration::from_secs(20),
            || async move {
                use tokio::io::AsyncReadExt;
                let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()?;
                if !plain {
                    // TLS from the first byte: accepting connections is all that can be seen here.
                    return Some(());
                }
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

/// An SMTP server that accepts connections and never says a word: a send
/// waits on it until the client gives up or is killed. Returns its
/// `notify.smtp_url`; it listens as long as the test's runtime runs.
pub async fn silent_smtp() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a port for the silent SMTP server");
    let url = format!(
        "smtp://{}?tls=none",
        listener.local_addr().expect("its address")
    );
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// Writes `dir/tls/{ca.pem, cert.pem, key.pem}`: a CA, and a server
/// certificate for 127.0.0.1 it issued (P-256, valid two days).
fn make_certificates(dir: &std::path::Path) {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).expect("create the certificate directory");
    std::fs::write(
        tls.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the certificate extensions");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [Vec<&str>; 3] = [
        [
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Fleet test CA",
            ],
        ]
        .concat(),
        [
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "key.pem",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let out = std::process::Command::new("openssl")
            .args(&args)
            .current_dir(&tls)
            .output()
            .unwrap_or_else(|e| panic!("run openssl (Debian package openssl): {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
