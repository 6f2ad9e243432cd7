//! The web UI, served at `/` by the leading master (the others redirect to it): plain
//! JavaScript modules and CSS from `master/webui/`, compiled into the binary, so nothing is
//! fetched from anywhere but the master. The pages read the operator API (its SUBSCRIBE event
//! stream keeps them live), `/metrics/snapshot`, the classic `/master/roles` and `/master/tasks`,
//! and the agents' `/state` and `/files/*`.
//!
//! The files come from a process of their own (`webui`, paths `/webui/<file>`), not from the
//! master's: a page loads at once even while the master is busy (building a large cluster's
//! state for a subscriber takes seconds). It knows from the master whether to redirect.

use std::sync::{Arc, Mutex};

use libprocess::{Context, HttpResponse, Process, Reply};

/// (name, media type, content) of each file, served at `/webui/<name>`.
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

/// Whether this master serves the UI, as the master last said.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Gate {
    /// It leads.
    Lead,
    /// It does not: the leader's `//host:port`.
    Redirect(String),
    /// No master leads.
    NoLeader,
}

/// The process serving the UI's files.
pub(crate) struct WebUi {
    gate: Arc<Mutex<Gate>>,
}

impl WebUi {
    pub(crate) fn new(gate: Arc<Mutex<Gate>>) -> WebUi {
        WebUi { gate }
    }
}

impl Process for WebUi {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        for (name, media, body) in FILES {
            let route = if *name == "index.html" { "" } else { name };
            ctx.route(route, move |w: &mut WebUi, _, req| {
                let gate = w.gate.lock().unwrap_or_else(|e| e.into_inner()).clone();
                match gate {
                    Gate::Lead => {}
                    Gate::Redirect(base) => {
                        let to = format!("{base}{}", req.path);
                        return Reply::from(
                            HttpResponse::text(307, "").with_header("Location", &to),
                        );
                    }
                    Gate::NoLeader => {
                        return Reply::from(HttpResponse::text(503, "No leader elected"))
                    }
                }
                Reply::from(
                    HttpResponse::text(200, *body)
                        .with_header("Content-Type", media)
                        .with_header("Cache-Control", "no-cache"),
                )
            });
        }
    }
}
