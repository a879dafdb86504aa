//! One request of the console: which page, who asks, and the response with its
//! security headers. Nothing here trusts the request: the session is looked up on this
//! node, the parameters are bounded ([`super::pages::Params`]), the language switch
//! redirects only within this site.

use super::html::{self, Frame, esc};
use super::i18n::{LANG_COOKIE, Lang};
use super::pages::{Params, Refusal};
use super::session::{SESSION_COOKIE, SESSION_MS, cookie};
use super::{BODY_BYTES_MAX, Console, Page, URL_BYTES_MAX, assets, live};
use crate::link::status::now_ms;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;

pub type Body = BoxBody<Bytes, Infallible>;

/// What the browser may load: this node only, nothing inline.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into()).boxed()
}

/// A response with the console's headers.
pub fn response(status: u16, kind: &str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    let set = |headers: &mut hyper::HeaderMap, name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(headers, header::CONTENT_TYPE, kind);
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    response
}

fn html_response(status: u16, text: String) -> Response<Body> {
    let mut r = response(status, "text/html; charset=utf-8", full(text));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn redirect(to: &str, cookies: &[String]) -> Response<Body> {
    let mut r = response(303, "text/plain; charset=utf-8", full(""));
    if let Ok(location) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, location);
    }
    for c in cookies {
        if let Ok(value) = HeaderValue::from_str(c) {
            r.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    r
}

/// `%XX` and `+` decoded; `None` for bytes that are not UTF-8.
pub fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b'%' => return None,
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A query string or form body as pairs; `None` when a part cannot be decoded or there
/// are more than 16 (no page takes that many).
pub fn pairs(text: &str) -> Option<Params> {
    let mut params = Params::default();
    for (i, pair) in text.split('&').filter(|p| !p.is_empty()).enumerate() {
        if i >= 16 {
            return None;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.0.insert(decode(k)?, decode(v)?);
    }
    Some(params)
}

/// The language of the request: its cookie, or Chinese.
fn lang_of(cookies: &str) -> Lang {
    cookie(cookies, LANG_COOKIE).and_then(Lang::from_code).unwrap_or_default()
}

/// Every cookie of the request in one string: over HTTP/2 a browser sends each cookie
/// in a header field of its own.
fn cookies(request: &Request<Incoming>) -> String {
    let fields: Vec<&str> = request.headers().get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
    fields.join("; ")
}

/// Answers one request.
pub async fn handle(console: Arc<Console>, request: Request<Incoming>) -> Response<Body> {
    let cookies = cookies(&request);
    let lang = lang_of(&cookies);
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    if path.len() + query.len() > URL_BYTES_MAX {
        return refusal_page(
            &console,
            lang,
            None,
            &Refusal {
                status: 414,
                title: "bad_request",
                why: format!("the URL is longer than {URL_BYTES_MAX} bytes"),
            },
        );
    }
    let Some(params) = pairs(&query) else {
        return refusal_page(&console, lang, None, &Refusal::bad("the URL's query cannot be read"));
    };
    let token = cookie(&cookies, SESSION_COOKIE).map(str::to_string);
    if let Some((kind, body)) = assets::get(&path) {
        let mut r = response(200, kind, full(body));
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
        return r;
    }
    match (request.method().clone(), path.as_str()) {
        (Method::GET, "/") => redirect("/overview", &[]),
        (Method::GET, "/signin") => signin_page(&console, lang, None, 200),
        (Method::POST, "/signin") => sign_in(&console, lang, request).await,
        (Method::POST, "/signout") => {
            if let Some(token) = &token {
                console.sessions.sign_out(token);
            }
            redirect("/signin", &[format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")])
        }
        (Method::GET, "/lang") => {
            let to = params.text("to").ok().flatten().and_then(Lang::from_code).unwrap_or_default();
            let back = params.text("back").ok().flatten().filter(|b| local_path(b)).unwrap_or("/overview");
            let cookie = format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; Secure; SameSite=Strict", to.code());
            redirect(back, &[cookie])
        }
        (Method::GET, p) => {
            let (mode, name) = match p.strip_prefix("/part/") {
                Some(name) => (Mode::Part, name),
                None => match p.strip_prefix("/events/") {
                    Some(name) => (Mode::Events, name),
                    None => (Mode::Page, p.strip_prefix('/').unwrap_or(p)),
                },
            };
            let Some(page) = Page::from_name(name) else {
                let refusal = Refusal { status: 404, title: "not_found", why: format!("`{p}`") };
                return refusal_page(&console, lang, None, &refusal);
            };
            let viewer = match console.viewer(token.as_deref()) {
                Ok(Some(viewer)) => viewer,
                Ok(None) if mode == Mode::Page => return redirect("/signin", &[]),
                Ok(None) => return response(401, "text/plain; charset=utf-8", full("sign in first\n")),
                Err(refusal) => return refusal_page(&console, lang, None, &refusal),
            };
            let (viewer, session) = viewer;
            let here = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
            match mode {
                Mode::Events => live::events(console, page, viewer, params, lang, token.unwrap_or_default()).await,
                Mode::Part => match console.part(page, &viewer, &params, lang).await {
                    Ok(part) => html_response(200, part),
                    Err(refusal) => {
                        response(refusal.status, "text/plain; charset=utf-8", full(format!("{}\n", refusal.why)))
                    }
                },
                Mode::Page => {
                    let frame = Frame {
                        lang,
                        node: &console.me(),
                        tier: console.shared.tier.as_str(),
                        operator: Some(&session.operator),
                        active: page.nav(),
                        here: &here,
                        live: None,
                    };
                    let events = format!(
                        "/events/{}{}",
                        page.name(),
                        if query.is_empty() { String::new() } else { format!("?{query}") }
                    );
                    match console.part(page, &viewer, &params, lang).await {
                        Ok(part) => {
                            let live = page.live().then_some(events.as_str());
                            html_response(200, html::page(&Frame { live, ..frame }, lang.t(page.name()), &part))
                        }
                        Err(refusal) => refusal_page(&console, lang, Some(&session.operator), &refusal),
                    }
                }
            }
        }
        _ => refusal_page(
            &console,
            lang,
            None,
            &Refusal { status: 405, title: "bad_request", why: "method not allowed".into() },
        ),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Page,
    Part,
    Events,
}

/// A path of this site (`/x`), not another's (`//host`, `/\host`).
fn local_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') && !path.contains("://")
}

fn refusal_page(console: &Console, lang: Lang, operator: Option<&str>, refusal: &Refusal) -> Response<Body> {
    let frame = Frame {
        lang,
        node: &console.me(),
        tier: console.shared.tier.as_str(),
        operator,
        active: "",
        here: "/overview",
        live: None,
    };
    let body = format!(
        "<div class=\"refusal\" id=\"refusal\"><p>{}</p></div><p><a href=\"/overview\">{}</a></p>",
        esc(&refusal.why),
        lang.t("back")
    );
    html_response(refusal.status, html::page(&frame, lang.t(refusal.title), &body))
}

fn signin_page(console: &Console, lang: Lang, error: Option<&str>, status: u16) -> Response<Body> {
    let me = console.me();
    let frame = Frame {
        lang,
        node: &me,
        tier: console.shared.tier.as_str(),
        operator: None,
        active: "",
        here: "/signin",
        live: None,
    };
    let error =
        error.map(|e| format!("<div class=\"refusal\" id=\"refusal\"><p>{}</p></div>", esc(e))).unwrap_or_default();
    let body = format!(
        "{error}<p>{}</p><pre><code>linlictl --tls-dir CERTS --as operator--SCOPE--NAME console-ticket --node {}</code></pre>\
         <form class=\"signin\" method=\"post\" action=\"/signin\"><label for=\"ticket\">{}</label><br>\
         <textarea id=\"ticket\" name=\"ticket\" required autocomplete=\"off\" spellcheck=\"false\"></textarea><br>\
         <button id=\"signin\">{}</button></form>",
        lang.t("ticket_help"),
        esc(&me),
        lang.t("ticket"),
        lang.t("sign_in")
    );
    html_response(status, html::page(&frame, lang.t("sign_in"), &body))
}

async fn sign_in(console: &Console, lang: Lang, request: Request<Incoming>) -> Response<Body> {
    let body = match Limited::new(request.into_body(), BODY_BYTES_MAX).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return signin_page(console, lang, Some(&format!("the form is over {BODY_BYTES_MAX} bytes")), 413),
    };
    let ticket = std::str::from_utf8(&body).ok().and_then(pairs).and_then(|p| p.0.get("ticket").cloned());
    let Some(ticket) = ticket else { return signin_page(console, lang, Some("the form holds no ticket"), 400) };
    let now = now_ms();
    let verified = match linli_tls::ticket::verify(&console.ca_pem, &ticket, &console.me(), now) {
        Ok(verified) => verified,
        Err(e) => {
            console.refused("Console.SignIn", "ticket", "a ticket", &e.to_string());
            return signin_page(console, lang, Some(&e.to_string()), 403);
        }
    };
    let token = match linli_tls::ticket::random_token() {
        Ok(token) => token,
        Err(e) => return signin_page(console, lang, Some(&e.to_string()), 503),
    };
    match console.sessions.sign_in(&verified, token, now) {
        Ok((token, session)) => {
            tracing::info!(operator = %session.operator, "console sign-in");
            let max_age = SESSION_MS / 1000;
            let cookie =
                format!("{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict");
            redirect("/overview", &[cookie])
        }
        Err(refused) => {
            console.refused("Console.SignIn", "ticket", &verified.operator, &refused.to_string());
            signin_page(console, lang, Some(&refused.to_string()), 403)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_and_bad_ones_are_refused() {
        let p = pairs("community=lg-s1-c1&registry=requests&x=%E4%B8%AD+a").expect("pairs");
        assert_eq!(p.0.get("community").map(String::as_str), Some("lg-s1-c1"));
        assert_eq!(p.0.get("x").map(String::as_str), Some("中 a"));
        assert!(pairs("a=%zz").is_none());
        assert!(pairs("a=%4").is_none());
        assert!(pairs("a=%ff").is_none(), "not UTF-8");
        let many: Vec<String> = (0..17).map(|i| format!("k{i}=v")).collect();
        assert!(pairs(&many.join("&")).is_none());
    }

    #[test]
    fn the_language_switch_goes_back_within_the_site_only() {
        assert!(local_path("/overdue?street=lg-s1"));
        for other in ["//evil.example", "https://evil.example", "/\\evil", "overdue"] {
            assert!(!local_path(other), "{other}");
        }
    }
}
