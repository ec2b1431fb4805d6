//! Static files, compiled into the binary so Passage is one file to copy. Names carry a
//! version, so browsers may cache them for a year.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;

pub const HTMX: &str = "htmx-2.0.11.min.js";
pub const CSS: &str = "passage-3.css";
pub const JS: &str = "passage-1.js";

const FILES: [(&str, &str, &[u8]); 3] = [
    (
        HTMX,
        "text/javascript",
        include_bytes!("../static/htmx-2.0.11.min.js"),
    ),
    (CSS, "text/css", include_bytes!("../static/passage.css")),
    (JS, "text/javascript", include_bytes!("../static/passage.js")),
];

pub fn routes() -> Router<AppState> {
    Router::new().route("/static/{name}", axum::routing::get(file))
}

async fn file(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => ([(header::CONTENT_TYPE, *content_type)], *bytes).into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
