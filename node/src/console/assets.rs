//! The console's static files, compiled into the binary.

/// `(path, content type, bytes)` of every asset.
pub const ASSETS: [(&str, &str, &str); 3] = [
    ("/assets/console.css", "text/css; charset=utf-8", include_str!("assets/console.css")),
    ("/assets/console.js", "text/javascript; charset=utf-8", include_str!("assets/console.js")),
    ("/assets/icon.svg", "image/svg+xml", include_str!("assets/icon.svg")),
];

pub fn get(path: &str) -> Option<(&'static str, &'static str)> {
    ASSETS.iter().find(|(p, _, _)| *p == path).map(|(_, kind, body)| (*kind, *body))
}
