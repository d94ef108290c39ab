//! Serves a fake service's router on a free port of 127.0.0.1, in its own
//! thread and runtime, so it keeps answering whatever the test's runtime is
//! doing; it stops when dropped.

use axum::Router;

/// A running fake; stopped on drop.
#[derive(Debug)]
pub struct FakeServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeServer {
    /// Starts serving `app`; `what` names the fake in panics.
    pub fn start(app: Router, what: &str) -> FakeServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("bind a port for the {what} fake: {e}"));
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        FakeServer {
            base,
            stop: Some(stop),
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Holds a fake's requests at a point of its handling until released, so a
/// test can act (kill the caller, cancel a run) while they wait there.
#[derive(Debug)]
pub struct Gate<P> {
    state: std::sync::Mutex<(Option<P>, u32)>,
    changed: tokio::sync::watch::Sender<u64>,
}

impl<P: PartialEq + Copy> Default for Gate<P> {
    fn default() -> Self {
        Gate {
            state: std::sync::Mutex::new((None, 0)),
            changed: tokio::sync::watch::channel(0).0,
        }
    }
}

impl<P: PartialEq + Copy> Gate<P> {
    /// Requests reaching `point` wait from now on (None: none wait).
    pub fn hold(&self, point: Option<P>) {
        if let Ok(mut state) = self.state.lock() {
            state.0 = point;
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// Requests waiting now.
    pub fn held(&self) -> u32 {
        self.state.lock().map(|s| s.1).unwrap_or(0)
    }

    /// Waits here while requests are held at `point`.
    pub async fn pass(&self, point: P) {
        let mut rx = self.changed.subscribe();
        {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            if state.0 != Some(point) {
                return;
            }
            state.1 += 1;
        }
        while self.state.lock().is_ok_and(|s| s.0 == Some(point)) {
            if rx.changed().await.is_err() {
                break;
            }
        }
        if let Ok(mut state) = self.state.lock() {
            state.1 -= 1;
        }
    }
}
