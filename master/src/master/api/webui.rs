//! The web UI, served at `/` by the leading master (the others redirect to it): plain
//! JavaScript modules and CSS from `master/webui/`, compiled into the binary, so nothing is
//! fetched from anywhere but the master. The pages read the operator API (its SUBSCRIBE event
//! stream keeps them live), `/metrics/snapshot`, the classic `/master/roles`, and the agents'
//! `/state` and `/files/*`.

use libprocess::{Context, HttpResponse, Reply};

use super::super::Master;

/// (name, media type, content) of each file, served at `/master/webui/<name>`.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../../webui/index.html"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../../webui/style.css"),
    ),
    ("app.js", JS, include_str!("../../../webui/app.js")),
    ("store.js", JS, include_str!("../../../webui/store.js")),
    ("views.js", JS, include_str!("../../../webui/views.js")),
    ("util.js", JS, include_str!("../../../webui/util.js")),
    ("metrics.js", JS, include_str!("../../../webui/metrics.js")),
    ("chart.js", JS, include_str!("../../../webui/chart.js")),
];

const JS: &str = "text/javascript; charset=utf-8";

/// The UI's routes on the master process: `webui` (the page, aliased at `/`) and its files.
pub(super) fn install(ctx: &mut Context<Master>) {
    for (name, media, body) in FILES {
        let route = if *name == "index.html" {
            "webui".to_string()
        } else {
            format!("webui/{name}")
        };
        ctx.route(&route, move |m: &mut Master, _, req| {
            if let Some(r) = m.gate(&req, false) {
                return Reply::from(r);
            }
            Reply::from(
                HttpResponse::text(200, *body)
                    .with_header("Content-Type", media)
                    .with_header("Cache-Control", "no-cache"),
            )
        });
    }
}
