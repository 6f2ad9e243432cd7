//! `POST /api/v1/scheduler`: the v1 scheduler HTTP API. The checks run in Mesos's order (method,
//! content type, body, validation, then SUBSCRIBE's Accept and stream id, or another call's
//! framework, connection and stream id); SUBSCRIBE answers with the framework's event stream.

use libprocess::{Context, HttpRequest, HttpResponse, Reply};
use mesos_api::http::{self as api, Rejection};
use mesos_api::ids;
use mesos_api::protobuf;
use mesos_api::protocol::scheduler::{Call, CallType};

use super::reject;
use crate::master::proxy::{Conn, HttpStream};
use crate::master::Master;
use crate::validation;

/// The header naming a framework's subscription.
pub(crate) const STREAM_ID: &str = "Mesos-Stream-Id";

impl Master {
    pub(crate) fn scheduler_api(&mut self, ctx: &mut Context<Self>, req: HttpRequest) -> Reply {
        match self.scheduler_call(ctx, &req) {
            Ok(r) => r.into(),
            Err(r) => reject(r).into(),
        }
    }

    fn scheduler_call(
        &mut self,
        ctx: &mut Context<Self>,
        req: &HttpRequest,
    ) -> Result<HttpResponse, Rejection> {
        if req.method.as_str() != "POST" {
            return Err(Rejection::method_not_allowed(format!(
                "Expecting a 'POST' request, received '{}'",
                req.method
            )));
        }
        let encoding = api::check_content_type(req.header("content-type"))?;
        let call: Call = api::decode_call(encoding, protobuf::SCHEDULER_CALL, &req.body)?;
        validation::scheduler_call(&call).map_err(Rejection::bad_request)?;
        self.count_call(&call);
        if call.kind == Some(CallType::Subscribe) {
            let accept = api::check_accept(req.header("accept"))?;
            if req.header(STREAM_ID).is_some() {
                return Err(Rejection::bad_request(format!(
                    "Subscribe calls should not include the '{STREAM_ID}' header"
                )));
            }
            let Some(mut s) = call.subscribe else {
                return Err(Rejection::bad_request(
                    "Expecting 'subscribe' to be present",
                ));
            };
            if let (Some(p), Some(fp)) = (&req.principal, &s.framework_info.principal) {
                if p != fp {
                    return Err(Rejection::bad_request(format!(
                        "Authenticated principal '{p}' does not match principal '{fp}' set in `FrameworkInfo`"
                    )));
                }
            }
            // Authenticated without naming a principal: it is the one it proved (as Mesos
            // sets it), which authorization then uses.
            if s.framework_info.principal.is_none() {
                s.framework_info.principal = req.principal.clone();
            }
            let id = ids::new_uuid();
            let (resp, tx) = HttpResponse::stream(accept.media_type());
            let resp = resp.with_header(STREAM_ID, &id);
            let stream = HttpStream {
                id,
                tx,
                encoding: accept,
            };
            self.subscribe(ctx, Conn::Http(stream), s);
            self.metrics_changed(ctx);
            return Ok(resp);
        }
        let Some(fid) = call.framework_id.clone() else {
            return Err(Rejection::bad_request(
                "Expecting 'framework_id' to be present",
            ));
        };
        let Some(f) = self.frameworks.get(&fid) else {
            return Err(Rejection::bad_request(format!(
                "Framework '{fid}' cannot be found"
            )));
        };
        if let (Some(p), Some(fp)) = (&req.principal, &f.info.principal) {
            if p != fp {
                return Err(Rejection::forbidden(format!(
                    "Authenticated principal '{p}' does not match principal '{fp}' of framework '{fid}'"
                )));
            }
        }
        let Some(current) = f.stream_id.as_deref().filter(|_| f.connected) else {
            return Err(Rejection::forbidden(format!(
                "Framework '{fid}' is not subscribed over HTTP"
            )));
        };
        match req.header(STREAM_ID) {
            None => {
                return Err(Rejection::bad_request(format!(
                    "All non-subscribe calls should include the '{STREAM_ID}' header"
                )))
            }
            Some(sid) if sid != current => {
                return Err(Rejection::bad_request(format!(
                    "The stream ID '{sid}' included in this request didn't match the stream ID \
                     currently associated with framework ID {fid}"
                )))
            }
            Some(_) => {}
        }
        let status = if call.kind == Some(CallType::UpdateFramework) {
            if let Some(u) = &call.update_framework {
                self.offer_constraints(u).map_err(|e| {
                    Rejection::bad_request(format!("'UpdateFramework' call is not valid: {e}"))
                })?;
            }
            200
        } else {
            202
        };
        self.framework_call(ctx, &fid, call);
        self.metrics_changed(ctx);
        Ok(HttpResponse::empty(status))
    }
}
