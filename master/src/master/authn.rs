//! Authentication on the binary transport (`--authenticate_agents`, `--authenticate_frameworks`):
//! a client (agent or scheduler) proves a principal of `--credentials` with CRAM-MD5 before it
//! (re)registers. The master sends a fresh challenge, checks the response's HMAC, and remembers
//! the principal for the client's UPID (whose node the transport has checked) until that UPID's
//! connection goes. Registrations from UPIDs that did not authenticate are refused and counted.

use libprocess::{Context, UPID};
use mesos_api::auth::{cram_md5_check, CRAM_MD5};
use mesos_api::messages::{
    Authenticate, AuthenticationCompleted, AuthenticationFailed, AuthenticationStep,
};

use super::Master;

impl Master {
    /// Authenticate: a challenge for `from` (replacing any earlier one), valid for
    /// `--authentication_v0_timeout`.
    pub(super) fn authenticate(&mut self, ctx: &mut Context<Self>, from: UPID, m: Authenticate) {
        if m.mechanism != CRAM_MD5 {
            self.auth_failed(
                ctx,
                &from,
                &format!("unsupported mechanism '{}'", m.mechanism),
            );
            return;
        }
        self.authenticated.remove(&from);
        let challenge = format!("<{}@{}>", mesos_api::ids::new_uuid(), self.flags.hostname);
        self.auth_seq += 1;
        let seq = self.auth_seq;
        self.authenticating
            .insert(from.clone(), (challenge.clone().into_bytes(), seq));
        Self::send(
            ctx,
            &from,
            AuthenticationStep {
                data: challenge.into_bytes(),
            },
        );
        let d = self.flags.authentication_v0_timeout;
        ctx.delay(d, move |m: &mut Master, c| {
            if m.authenticating.get(&from).is_some_and(|(_, s)| *s == seq) {
                m.authenticating.remove(&from);
                m.auth_failed(c, &from, "authentication timed out");
            }
        });
    }

    /// The client's response: authenticated, or refused.
    pub(super) fn authentication_step(
        &mut self,
        ctx: &mut Context<Self>,
        from: UPID,
        m: AuthenticationStep,
    ) {
        let Some((challenge, _)) = self.authenticating.remove(&from) else {
            return;
        };
        match cram_md5_check(&self.flags.credential_list, &challenge, &m.data) {
            Some(principal) => {
                tracing::info!(%from, %principal, "authenticated");
                // Forgotten when its connection goes.
                ctx.link(&from);
                self.authenticated.insert(from.clone(), principal);
                Self::send(ctx, &from, AuthenticationCompleted {});
            }
            None => self.auth_failed(ctx, &from, "Authentication failed: invalid credentials"),
        }
    }

    fn auth_failed(&mut self, ctx: &mut Context<Self>, to: &UPID, why: &str) {
        tracing::warn!(client = %to, "refusing authentication: {why}");
        if let Some(mm) = &self.metrics {
            mm.authentication_failures.inc();
        }
        Self::send(
            ctx,
            to,
            AuthenticationFailed {
                error: why.to_string(),
            },
        );
    }

    /// The principal `from` authenticated as, if it did.
    pub(super) fn principal_of(&self, from: &UPID) -> Option<&str> {
        self.authenticated.get(from).map(String::as_str)
    }

    /// Whether a registration from `from` may proceed (`required`: the matching
    /// `--authenticate_*` flag); counts and logs a refusal.
    pub(super) fn authenticated_enough(&self, from: &UPID, required: bool, what: &str) -> bool {
        if !required || self.authenticated.contains_key(from) {
            return true;
        }
        tracing::warn!(%from, "refusing the {what} of a client that did not authenticate");
        if let Some(mm) = &self.metrics {
            mm.unauthenticated_refusals.inc();
        }
        false
    }
}
