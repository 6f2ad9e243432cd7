//! The same local workloads as [`crate::local`] on two other Rust actor frameworks, measured in
//! the same run as ours: `actix` (named in the project's design card; one single-threaded
//! arbiter per `System`, as actix runs) and `ractor` (Erlang-style actors on tokio tasks).
//!
//! - Throughput: one producer sends `n` fire-and-forget [`Ping`]s (the same ~100-byte message)
//!   to one actor that counts them and sums their sequence numbers; messages per second from
//!   the first send until the actor has seen the last one. The producer yields every 4,096
//!   sends, as ours does.
//! - Ping-pong: two actors bounce one ping; each sample is one round trip between them, actor
//!   to actor (not a request from outside), as ours measures it.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::local::Ping;

// ---- actix -----------------------------------------------------------------------------------

mod on_actix {
    use super::*;
    use actix::prelude::*;

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Msg(Ping);

    struct Sink {
        count: u64,
        sum: u64,
        expect: u64,
        done: Option<oneshot::Sender<u64>>,
    }

    impl Actor for Sink {
        type Context = Context<Self>;
    }

    impl Handler<Msg> for Sink {
        type Result = ();
        fn handle(&mut self, m: Msg, _: &mut Context<Self>) {
            self.count += 1;
            self.sum = self.sum.wrapping_add(m.0.seq);
            if self.count == self.expect {
                if let Some(d) = self.done.take() {
                    let _ = d.send(self.sum);
                }
            }
        }
    }

    pub(super) async fn throughput(n: u64) -> f64 {
        let (tx, rx) = oneshot::channel();
        let sink = Sink {
            count: 0,
            sum: 0,
            expect: n,
            done: Some(tx),
        }
        .start();
        let start = Instant::now();
        actix::spawn(async move {
            for seq in 0..n {
                sink.do_send(Msg(Ping::new(seq)));
                if seq % 4096 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        let sum = rx.await.expect("actix sink done");
        assert_eq!(sum, (0..n).fold(0u64, |a, s| a.wrapping_add(s)));
        n as f64 / start.elapsed().as_secs_f64()
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Ball(Ping, Recipient<Ball>);

    struct Ponger;

    impl Actor for Ponger {
        type Context = Context<Self>;
    }

    impl Handler<Ball> for Ponger {
        type Result = ();
        fn handle(&mut self, b: Ball, ctx: &mut Context<Self>) {
            let back = b.1.clone();
            back.do_send(Ball(b.0, ctx.address().recipient()));
        }
    }

    struct Pinger {
        left: u64,
        sent_at: Instant,
        samples: Vec<Duration>,
        done: Option<oneshot::Sender<Vec<Duration>>>,
    }

    impl Actor for Pinger {
        type Context = Context<Self>;
    }

    impl Handler<Ball> for Pinger {
        type Result = ();
        fn handle(&mut self, b: Ball, ctx: &mut Context<Self>) {
            self.samples.push(self.sent_at.elapsed());
            self.left -= 1;
            if self.left == 0 {
                if let Some(d) = self.done.take() {
                    let _ = d.send(std::mem::take(&mut self.samples));
                }
                return;
            }
            self.sent_at = Instant::now();
            let next = Ping {
                seq: b.0.seq + 1,
                ..b.0
            };
            b.1.do_send(Ball(next, ctx.address().recipient()));
        }
    }

    pub(super) async fn pingpong(n: u64) -> Vec<Duration> {
        let (tx, rx) = oneshot::channel();
        let ponger = Ponger.start();
        let pinger = Pinger {
            left: n,
            sent_at: Instant::now(),
            samples: Vec::with_capacity(n as usize),
            done: Some(tx),
        }
        .start();
        ponger.do_send(Ball(Ping::new(0), pinger.recipient()));
        rx.await.expect("actix pingpong done")
    }
}

/// Runs `f` on actix, in a `System` of its own on its own thread (actix runs its actors on a
/// single-threaded arbiter).
fn on_actix_system<T: Send + 'static, F: std::future::Future<Output = T> + 'static>(
    f: impl FnOnce() -> F + Send + 'static,
) -> T {
    std::thread::spawn(move || actix::System::new().block_on(f()))
        .join()
        .expect("actix thread")
}

/// Fire-and-forget messages per second on actix.
pub fn actix_throughput(n: u64) -> f64 {
    on_actix_system(move || on_actix::throughput(n))
}

/// Round-trip samples between two actix actors.
pub fn actix_pingpong(n: u64) -> Vec<Duration> {
    on_actix_system(move || on_actix::pingpong(n))
}

// ---- ractor ----------------------------------------------------------------------------------

mod on_ractor {
    use super::*;
    use ractor::{Actor, ActorProcessingErr, ActorRef};

    struct Sink;

    struct SinkState {
        count: u64,
        sum: u64,
        expect: u64,
        done: Option<oneshot::Sender<u64>>,
    }

    impl Actor for Sink {
        type Msg = Ping;
        type State = SinkState;
        type Arguments = (u64, oneshot::Sender<u64>);

        async fn pre_start(
            &self,
            _: ActorRef<Ping>,
            (expect, done): Self::Arguments,
        ) -> Result<SinkState, ActorProcessingErr> {
            Ok(SinkState {
                count: 0,
                sum: 0,
                expect,
                done: Some(done),
            })
        }

        async fn handle(
            &self,
            _: ActorRef<Ping>,
            p: Ping,
            s: &mut SinkState,
        ) -> Result<(), ActorProcessingErr> {
            s.count += 1;
            s.sum = s.sum.wrapping_add(p.seq);
            if s.count == s.expect {
                if let Some(d) = s.done.take() {
                    let _ = d.send(s.sum);
                }
            }
            Ok(())
        }
    }

    pub(super) async fn throughput(n: u64) -> f64 {
        let (tx, rx) = oneshot::channel();
        let (sink, handle) = Actor::spawn(None, Sink, (n, tx))
            .await
            .expect("ractor sink");
        let start = Instant::now();
        let to = sink.clone();
        tokio::spawn(async move {
            for seq in 0..n {
                let _ = to.cast(Ping::new(seq));
                if seq % 4096 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        let sum = rx.await.expect("ractor sink done");
        let rate = n as f64 / start.elapsed().as_secs_f64();
        assert_eq!(sum, (0..n).fold(0u64, |a, s| a.wrapping_add(s)));
        sink.stop(None);
        let _ = handle.await;
        rate
    }

    /// A ball: the ping and who to send it back to.
    struct Ball(Ping, ActorRef<Ball>);

    struct Ponger;

    impl Actor for Ponger {
        type Msg = Ball;
        type State = ();
        type Arguments = ();

        async fn pre_start(&self, _: ActorRef<Ball>, _: ()) -> Result<(), ActorProcessingErr> {
            Ok(())
        }

        async fn handle(
            &self,
            me: ActorRef<Ball>,
            b: Ball,
            _: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            let _ = b.1.cast(Ball(b.0, me));
            Ok(())
        }
    }

    struct Pinger;

    struct PingerState {
        left: u64,
        sent_at: Instant,
        samples: Vec<Duration>,
        done: Option<oneshot::Sender<Vec<Duration>>>,
    }

    impl Actor for Pinger {
        type Msg = Ball;
        type State = PingerState;
        type Arguments = (u64, oneshot::Sender<Vec<Duration>>);

        async fn pre_start(
            &self,
            _: ActorRef<Ball>,
            (left, done): Self::Arguments,
        ) -> Result<PingerState, ActorProcessingErr> {
            Ok(PingerState {
                left,
                sent_at: Instant::now(),
                samples: Vec::with_capacity(left as usize),
                done: Some(done),
            })
        }

        async fn handle(
            &self,
            me: ActorRef<Ball>,
            b: Ball,
            s: &mut PingerState,
        ) -> Result<(), ActorProcessingErr> {
            s.samples.push(s.sent_at.elapsed());
            s.left -= 1;
            if s.left == 0 {
                if let Some(d) = s.done.take() {
                    let _ = d.send(std::mem::take(&mut s.samples));
                }
                return Ok(());
            }
            s.sent_at = Instant::now();
            let next = Ping {
                seq: b.0.seq + 1,
                ..b.0
            };
            let _ = b.1.cast(Ball(next, me));
            Ok(())
        }
    }

    pub(super) async fn pingpong(n: u64) -> Vec<Duration> {
        let (tx, rx) = oneshot::channel();
        let (ponger, ph) = Actor::spawn(None, Ponger, ()).await.expect("ponger");
        let (pinger, ih) = Actor::spawn(None, Pinger, (n, tx)).await.expect("pinger");
        // The first sample's clock starts at spawn: close enough over thousands of samples,
        // and the same for every framework here.
        let _ = ponger.cast(Ball(Ping::new(0), pinger.clone()));
        let samples = rx.await.expect("ractor pingpong done");
        ponger.stop(None);
        pinger.stop(None);
        let _ = (ph.await, ih.await);
        samples
    }
}

/// Fire-and-forget messages per second on ractor (on the caller's tokio runtime, as ractor
/// runs).
pub async fn ractor_throughput(n: u64) -> f64 {
    on_ractor::throughput(n).await
}

/// Round-trip samples between two ractor actors.
pub async fn ractor_pingpong(n: u64) -> Vec<Duration> {
    on_ractor::pingpong(n).await
}
