//! A scheduler that records what it is told.

use std::time::Duration;

use mesos_api::protocol::offer::{InverseOffer, Offer, OperationStatus};
use mesos_api::protocol::scheduler::{Failure, FrameworkMessage};
use mesos_api::protocol::task::TaskStatus;
use mesos_api::{FrameworkID, OfferID};
use mesos_scheduler::{Driver, Scheduler};
use tokio::sync::mpsc;

/// One callback a [`Recorder`] received, with its argument.
#[derive(Debug)]
pub enum Seen {
    /// SUBSCRIBED, with the framework's id.
    Subscribed(FrameworkID),
    /// OFFERS.
    Offers(Vec<Offer>),
    /// RESCIND of an offer.
    Rescind(OfferID),
    /// INVERSE_OFFERS.
    InverseOffers(Vec<InverseOffer>),
    /// RESCIND_INVERSE_OFFER.
    RescindInverseOffer(OfferID),
    /// UPDATE_OPERATION_STATUS (acknowledged by the SDK unless implicit acknowledgements are
    /// off).
    OperationStatus(OperationStatus),
    /// UPDATE of a task's status (acknowledged by the SDK, implicitly).
    Update(TaskStatus),
    /// FAILURE of an agent or an executor.
    Failure(Failure),
    /// MESSAGE from an executor.
    Message(FrameworkMessage),
    /// ERROR: the master refused the framework.
    Error(String),
    /// The connection to the master broke (the SDK resubscribes by itself).
    Disconnected,
}

/// A [`Scheduler`] that does nothing but send each callback, as a [`Seen`], to its channel; the
/// test reads them with [`next`] and drives the framework through the scheduler process's
/// [`Driver`].
#[derive(Debug)]
pub struct Recorder(pub mpsc::UnboundedSender<Seen>);

impl Recorder {
    /// A recorder and the receiving end of its channel.
    pub fn channel() -> (Recorder, mpsc::UnboundedReceiver<Seen>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Recorder(tx), rx)
    }
}

impl Scheduler for Recorder {
    fn subscribed(&mut self, _: &mut Driver, id: &FrameworkID) {
        let _ = self.0.send(Seen::Subscribed(id.clone()));
    }
    fn offers(&mut self, _: &mut Driver, offers: Vec<Offer>) {
        let _ = self.0.send(Seen::Offers(offers));
    }
    fn rescind(&mut self, _: &mut Driver, id: &OfferID) {
        let _ = self.0.send(Seen::Rescind(id.clone()));
    }
    fn inverse_offers(&mut self, _: &mut Driver, o: Vec<InverseOffer>) {
        let _ = self.0.send(Seen::InverseOffers(o));
    }
    fn rescind_inverse_offer(&mut self, _: &mut Driver, id: &OfferID) {
        let _ = self.0.send(Seen::RescindInverseOffer(id.clone()));
    }
    fn update_operation_status(&mut self, _: &mut Driver, s: &OperationStatus) {
        let _ = self.0.send(Seen::OperationStatus(s.clone()));
    }
    fn update(&mut self, _: &mut Driver, s: &TaskStatus) {
        let _ = self.0.send(Seen::Update(s.clone()));
    }
    fn failure(&mut self, _: &mut Driver, f: &Failure) {
        let _ = self.0.send(Seen::Failure(f.clone()));
    }
    fn message(&mut self, _: &mut Driver, m: &FrameworkMessage) {
        let _ = self.0.send(Seen::Message(m.clone()));
    }
    fn error(&mut self, _: &mut Driver, m: &str) {
        let _ = self.0.send(Seen::Error(m.to_string()));
    }
    fn disconnected(&mut self, _: &mut Driver) {
        let _ = self.0.send(Seen::Disconnected);
    }
}

/// The next callback a [`Recorder`] sent to `rx`, waiting at most `limit` for it. Panics if
/// none comes in time, or if the scheduler is gone (its sender dropped).
pub async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>, limit: Duration) -> Seen {
    tokio::time::timeout(limit, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?} waiting for a scheduler event"))
        .expect("scheduler gone")
}
