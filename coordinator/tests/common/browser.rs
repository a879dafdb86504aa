//! A real browser for the console's tests: Debian's Chromium, headless, driven over
//! the W3C WebDriver protocol by `chromedriver` (both installed by `scripts/setup.sh`).
//!
//! The client is the few WebDriver calls the tests make (new session, navigate, run a
//! script, screenshot, the browser's console log), JSON over HTTP on hyper, which the
//! workspace already builds: a WebDriver crate would bring its own HTTP and URL stack.

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub struct Browser {
    client: Client<HttpConnector, Full<Bytes>>,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

/// A program on the PATH or in /usr/bin; the test fails saying how to get it.
fn program(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
        .unwrap_or_default();
    found.unwrap_or_else(|| {
        panic!("`{name}` is not installed: ./scripts/test.sh installs Debian's chromium and chromium-driver")
    })
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at 1366×768 that trusts the test's
    /// console certificate (it names a node id, not 127.0.0.1) and resolves no host
    /// but this one, so a page that reached elsewhere would fail and say so in its log.
    pub async fn start() -> Browser {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("addr").port()
        };
        let driver = tokio::process::Command::new(program("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let client = Client::builder(TokioExecutor::new()).build_http();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = call(&client, "GET", &format!("{base}/status"), None).await;
            if ready.is_ok_and(|v| v["ready"] == json!(true)) {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not come up on port {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1366,768",
            "--no-first-run",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": { "binary": program("chromium"), "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let created =
            call(&client, "POST", &format!("{base}/session"), Some(capabilities)).await.expect("a browser session");
        let id = created["sessionId"].as_str().expect("session id").to_string();
        Browser { client, session: format!("{base}/session/{id}"), driver, _profile: profile }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        call(&self.client, method, &format!("{}{path}", self.session), body)
            .await
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"))
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": args }))).await
    }

    /// Every element's `data-name` with its text.
    pub async fn named(&self) -> std::collections::BTreeMap<String, String> {
        let found = self
            .eval(
                "const out = {}; for (const e of document.querySelectorAll('[data-name]')) \
                 { const k = e.dataset.name; out[k] = out[k] === undefined ? e.textContent.trim() : out[k] + '|' + e.textContent.trim(); } return out;",
                json!([]),
            )
            .await;
        serde_json::from_value(found).expect("names")
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.eval("return document.body.innerText;", json!([])).await.as_str().unwrap_or_default().to_string()
    }

    /// Saves a PNG of the viewport to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let shot = self.call("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(shot.as_str().expect("base64")).expect("png");
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("folder");
        std::fs::write(path, png).expect("screenshot written");
    }

    /// The browser console's entries since the last call (errors, warnings, logs).
    pub async fn console_log(&self) -> Vec<Value> {
        match self.call("POST", "/se/log", Some(json!({ "type": "browser" }))).await {
            Value::Array(entries) => entries,
            _ => Vec::new(),
        }
    }

    /// The URLs of everything the page loaded (the page, its assets, its event streams).
    pub async fn loaded_urls(&self) -> Vec<String> {
        let urls = self
            .eval(
                "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name));",
                json!([]),
            )
            .await;
        serde_json::from_value(urls).expect("urls")
    }

    pub async fn quit(mut self) {
        let _ = call(&self.client, "DELETE", &self.session, None).await;
        let _ = self.driver.kill().await;
    }
}

async fn call(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    let json: Value = serde_json::from_slice(&bytes).map_err(|e| format!("{status}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{status}: {}", json["value"]));
    }
    Ok(json.get("value").cloned().unwrap_or(Value::Null))
}
