//! The web console: the single-page app under `web/` (built into `web/dist` by
//! `scripts/web.sh`), served from the server's port. Release builds embed the bundle (build it
//! before `cargo build --release`); debug builds read `web/dist` of their source tree at
//! request time, so a rebuilt console needs no recompilation. Paths that are not files get
//! `index.html` (the app routes in the browser); without a bundle a short page says how to
//! build it.

use std::borrow::Cow;

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[cfg(not(debug_assertions))]
#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Bundle;

/// A file of the bundle and its content type.
#[cfg(not(debug_assertions))]
fn file(path: &str) -> Option<(Cow<'static, [u8]>, String)> {
    Bundle::get(path).map(|f| (f.data, f.metadata.mimetype().to_string()))
}

#[cfg(debug_assertions)]
fn file(path: &str) -> Option<(Cow<'static, [u8]>, String)> {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/dist"));
    if path.split('/').any(|p| p == ".." || p.is_empty()) {
        return None;
    }
    let data = std::fs::read(root.join(path)).ok()?;
    Some((Cow::Owned(data), mime_guess::from_path(path).first_or_octet_stream().to_string()))
}

const NOT_BUILT: &str = "<!doctype html><title>Rask</title><h1>Rask server</h1>\
<p>The web console is not built: run <code>scripts/web.sh</code> (needs Node.js and npm), then reload. \
The REST API is at <a href=\"/api/v1/openapi.json\">/api/v1</a>.</p>";

pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let found = if path.is_empty() { None } else { file(path) };
    let (name, found) = match found {
        Some(f) => (path, Some(f)),
        None => ("index.html", file("index.html")),
    };
    match found {
        Some((data, mime)) => {
            // Hashed assets never change; the page itself must be fetched again.
            let cache = if name.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
            ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, cache.to_string())], data.into_owned()).into_response()
        }
        None => (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], NOT_BUILT).into_response(),
    }
}
