//! The master's HTTP surface: the v1 scheduler API, the v1 operator API and the classic
//! endpoints, each a route of the master process (so a request is an event in order with the
//! master's messages), with aliases at Mesos's unprefixed paths.

pub(crate) mod classic;
mod files;
pub(crate) mod json;
pub(crate) mod operator;
pub(crate) mod scheduler;
pub(crate) mod webui;

use libprocess::auth::install_basic;
use libprocess::{Context, HttpRequest, HttpResponse, Reply};
use mesos_api::auth::{MASTER_READONLY, MASTER_READWRITE, MASTER_SCHEDULER};
use mesos_api::http::{Encoding, Rejection, PROTOBUF};

use super::Master;

/// The master's one mapping from a refused request to its answer: the rejection's status with
/// its reason as a `text/plain` body. Every endpoint's errors go through it.
pub(crate) fn reject(r: Rejection) -> HttpResponse {
    HttpResponse::text(r.status, r.message)
}

/// An operator answer in the encoding the client accepts: a JSON answer is re-encoded as the
/// protobuf `message` for a client that accepts only protobuf.
pub(crate) fn encode_reply(reply: Reply, accept: Encoding, message: &'static str) -> Reply {
    match accept {
        Encoding::Json => reply,
        Encoding::Protobuf => reply.reencode_json(PROTOBUF, move |body| {
            mesos_api::http::json_body_as_protobuf(message, body)
        }),
    }
}

/// An endpoint's result as its reply: the response, or the rejection through [`reject`].
pub(crate) fn reply(r: Result<HttpResponse, Rejection>) -> Reply {
    match r {
        Ok(r) => r.into(),
        Err(e) => reject(e).into(),
    }
}

/// Paths served without the `/master` prefix, as Mesos does: (path, route).
const ALIASES: &[(&str, &str)] = &[
    ("/api/v1/scheduler", "api/v1/scheduler"),
    ("/api/v1", "api/v1"),
    ("/state", "state"),
    ("/state.json", "state.json"),
    ("/state-summary", "state-summary"),
    ("/frameworks", "frameworks"),
    ("/slaves", "slaves"),
    ("/tasks", "tasks"),
    ("/tasks.json", "tasks.json"),
    ("/roles", "roles"),
    ("/flags", "flags"),
    ("/health", "health"),
    ("/version", "version"),
    ("/redirect", "redirect"),
    ("/teardown", "teardown"),
    ("/quota", "quota"),
    ("/weights", "weights"),
    ("/reserve", "reserve"),
    ("/unreserve", "unreserve"),
    ("/files/browse", "files/browse"),
    ("/files/read", "files/read"),
    ("/files/download", "files/download"),
    ("/logging/toggle", "logging/toggle"),
];

impl Master {
    /// Makes the realms that `--authenticate_http_*` name authenticate with HTTP Basic against
    /// `--credentials`; the runtime's own endpoints (`/metrics/snapshot`) are read-only.
    fn install_authenticators(&self, ctx: &mut Context<Self>) {
        let f = &self.flags;
        let realms: Vec<&str> = [
            (f.authenticate_http_readonly, MASTER_READONLY),
            (f.authenticate_http_readwrite, MASTER_READWRITE),
            (f.authenticate_http_frameworks, MASTER_SCHEDULER),
        ]
        .into_iter()
        .filter_map(|(on, realm)| on.then_some(realm))
        .collect();
        let creds: Vec<(String, String)> = f
            .credential_list
            .iter()
            .map(|c| (c.principal.clone(), c.secret.clone()))
            .collect();
        let builtin = f.authenticate_http_readonly.then_some(MASTER_READONLY);
        install_basic(ctx.runtime(), &realms, &creds, builtin);
    }

    /// Installs the routes and their aliases.
    pub(super) fn install_routes(&mut self, ctx: &mut Context<Self>) {
        self.install_authenticators(ctx);
        ctx.route_in(
            MASTER_SCHEDULER,
            "api/v1/scheduler",
            |m: &mut Master, c, req| match m.gate(&req, true) {
                Some(r) => r.into(),
                None => m.scheduler_api(c, req),
            },
        );
        ctx.route_in(
            MASTER_READWRITE,
            "api/v1",
            |m: &mut Master, c, req| match m.gate(&req, true) {
                Some(r) => r.into(),
                None => m.operator_api(c, req),
            },
        );
        Self::install_classic(ctx);
        // The UI's files, from a process of their own (one per runtime: the first master's).
        let ui = webui::WebUi::new(self.webui_gate.clone());
        if ctx.runtime().spawn("webui", ui).is_ok() {
            ctx.runtime().add_http_alias("/", "webui", "");
        }
        // libprocess's `/logging/toggle?level=&duration=`, in the read-write realm.
        ctx.route_in(MASTER_READWRITE, "logging/toggle", |_, _, req| {
            libprocess::logging::toggle(&req.query_params()).into()
        });
        let me = ctx.self_upid().id().to_string();
        for (path, route) in ALIASES {
            ctx.runtime().add_http_alias(path, &me, route);
        }
    }
}

/// A route in `realm` only the leading master serves (the others redirect to it).
pub(super) fn led_route(
    ctx: &mut Context<Master>,
    realm: &str,
    route: &str,
    mut f: impl FnMut(&mut Master, &mut Context<Master>, HttpRequest) -> Reply + Send + 'static,
) {
    ctx.route_in(realm, route, move |m: &mut Master, c, req| {
        match m.gate(&req, false) {
            Some(r) => r.into(),
            None => f(m, c, req),
        }
    });
}
