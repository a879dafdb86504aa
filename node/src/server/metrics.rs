//! Prometheus metrics over plain HTTP: what [`crate::metrics::render`] writes.
//!
//! A minimal responder (any request gets the text exposition, then the connection
//! closes): metrics must not pull a web framework into every node. Requests are read
//! up to 8 KiB and answered within 5 s, or dropped.

use super::authority::Refusals;
use super::callers::Callers;
use crate::engine::EngineHandle;
use crate::link::Links;
use crate::metrics::render;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

const REQUEST_BYTES_MAX: usize = 8 * 1024;

/// Serves metrics on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    engine: EngineHandle,
    links: Links,
    refusals: Refusals,
    callers: Callers,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let Ok((mut socket, _)) = accepted else { continue };
        let body = render(&engine, &links, &refusals, callers.watches_open());
        tokio::spawn(async move {
            let answer = async {
                let mut request = vec![0u8; REQUEST_BYTES_MAX];
                let _ = socket.read(&mut request).await?;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                socket.write_all(head.as_bytes()).await?;
                socket.write_all(body.as_bytes()).await?;
                socket.shutdown().await
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), answer).await;
        });
    }
}
