//! A local HTTP receiver for the tests of webhook checks and notifications: it keeps every
//! JSON body posted to it and answers as the test says.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

/// How the receiver answers one post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// Never answers (the sender times out).
    Hang,
}

type Decide = dyn Fn(usize) -> Answer + Send + Sync;

#[derive(Clone)]
struct Shared {
    bodies: Arc<Mutex<Vec<Value>>>,
    decide: Arc<Decide>,
}

/// A receiver on 127.0.0.1; stops when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Answers the `n`th post (from 0) with `decide(n)`.
    pub async fn start(decide: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let shared = Shared {
            bodies: Arc::default(),
            decide: Arc::new(decide),
        };
        let bodies = shared.bodies.clone();
        let app = axum::Router::new()
            .route("/{*path}", post(receive))
            .route("/", post(receive))
            .with_state(shared);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, bodies, task }
    }

    /// Always answers `status`.
    pub async fn answering(status: u16) -> Receiver {
        Receiver::start(move |_| Answer::Status(status)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every body received so far, in order.
    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().expect("bodies").clone()
    }

    /// The `event` field of every body so far.
    pub fn events(&self) -> Vec<String> {
        self.bodies()
            .iter()
            .map(|b| b["event"].as_str().unwrap_or("?").to_owned())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Shared>, Json(body): Json<Value>) -> StatusCode {
    let n = {
        let mut bodies = shared.bodies.lock().expect("bodies");
        bodies.push(body);
        bodies.len() - 1
    };
    match (shared.decide)(n) {
        Answer::Status(s) => StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Answer::Hang => std::future::pending().await,
    }
}

/// An address where nothing listens: a port bound for a moment, then let go.
pub async fn nothing_listening() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    listener.local_addr().expect("address")
}
