//! The live part of a page as server-sent events: re-rendered when the views change
//! (a burst of writes is one render; the wait is `Query.Watch`'s,
//! [`crate::server::query::views_moved`]) or, for pages that move with the clock,
//! every [`TICK`]; sent only when it differs from the last one sent. A comment after
//! [`KEEPALIVE`] without an event keeps proxies from closing the stream.
//!
//! Bounds: [`super::LIVE_MAX`] streams per node (one over gets 503); each holds one
//! event in its queue, and a browser that reads slower than the page changes gets the
//! latest state when it catches up. The stream ends when its session ends, at
//! shutdown, or when the browser goes.

use super::i18n::Lang;
use super::pages::Params;
use super::respond::{Body, full, response};
use super::viewer::Viewer;
use super::{Console, LIVE_MAX, Page};
use crate::link::status::now_ms;
use crate::server::query::views_moved;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

/// How often a page that moves with the clock is re-rendered.
pub const TICK: Duration = Duration::from_secs(1);
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// One render as an event: `event: part`, the HTML as `data:` lines.
pub fn event(html: &str) -> Bytes {
    let mut out = String::with_capacity(html.len() + 32);
    out.push_str("event: part\n");
    for line in html.lines() {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

pub async fn events(
    console: Arc<Console>,
    page: Page,
    viewer: Viewer,
    params: Params,
    lang: Lang,
    token: String,
) -> Response<Body> {
    let Ok(permit) = console.live.clone().try_acquire_owned() else {
        let why = format!("{LIVE_MAX} live pages are open on this node: this one stays as loaded\n");
        return response(503, "text/plain; charset=utf-8", full(why));
    };
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    tokio::spawn(async move {
        let _permit = permit;
        let mut changed = console.shared.engine.views_changed();
        let mut shutdown = console.shared.shutdown.clone();
        let mut last = String::new();
        let mut sent = std::time::Instant::now();
        // A page that does not tick is still made again now and then, to keep alive.
        let tick = if page.ticks() { TICK } else { KEEPALIVE };
        loop {
            if console.sessions.get(&token, now_ms()).is_none() {
                return;
            }
            changed.borrow_and_update();
            let out = match console.part(page, &viewer, &params, lang).await {
                Ok(part) if part == last => {
                    (sent.elapsed() >= KEEPALIVE).then(|| Bytes::from_static(b": keepalive\n\n"))
                }
                Ok(part) => {
                    let out = event(&part);
                    last = part;
                    Some(out)
                }
                // The viewer's part or the page cannot be answered any more: the page
                // keeps what it shows, and a reload shows why.
                Err(_) => return,
            };
            if let Some(out) = out {
                if tx.send(out).await.is_err() {
                    return;
                }
                sent = std::time::Instant::now();
            }
            tokio::select! {
                moved = views_moved(&mut changed, &mut shutdown, Some(tick)) => if !moved { return },
                _ = tx.closed() => return,
            }
        }
    });
    let stream = ReceiverStream::new(rx).map(|bytes| Ok::<_, Infallible>(Frame::data(bytes)));
    let mut r = response(200, "text/event-stream; charset=utf-8", StreamBody::new(stream).boxed());
    r.headers_mut().insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_event_carries_every_line_of_the_part() {
        let e = super::event("<p>a</p>\n<p>b</p>");
        assert_eq!(&e[..], b"event: part\ndata: <p>a</p>\ndata: <p>b</p>\n\n");
    }
}
