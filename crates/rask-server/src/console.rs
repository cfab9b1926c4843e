//! The web console: the single-page app under `web/` (built into `web/dist` by
//! `scripts/web.sh`), served from the server's port. Release builds embed the bundle; debug
//! builds read it from `web/dist` at request time. Paths that are not files get `index.html`
//! (the app routes in the browser); without a bundle a short page says how to build it.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Bundle;

const NOT_BUILT: &str = "<!doctype html><title>Rask</title><h1>Rask server</h1>\
<p>The web console is not built: run <code>scripts/web.sh</code> (needs Node.js and npm), then reload. \
The REST API is at <a href=\"/api/v1/openapi.json\">/api/v1</a>.</p>";

pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let file = if path.is_empty() { None } else { Bundle::get(path) };
    let (name, file) = match file {
        Some(f) => (path, Some(f)),
        None => ("index.html", Bundle::get("index.html")),
    };
    match file {
        Some(f) => {
            let mime = f.metadata.mimetype().to_string();
            // Hashed assets never change; the page itself must be fetched again.
            let cache = if name.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
            ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, cache.to_string())], f.data.into_owned()).into_response()
        }
        None => (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], NOT_BUILT).into_response(),
    }
}
