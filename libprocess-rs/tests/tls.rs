//! TLS on the one port: messages and HTTP over mutual TLS, downgrade, and refused peers.

mod common;

use std::sync::Arc;

use common::*;
use libprocess::tls::test_certs::TestCerts;
use libprocess::tls::{Tls, TlsSettings};
use libprocess::{Config, Context, RemoteConnection, Runtime, UPID};

fn certs(name: &str) -> TestCerts {
    let dir = std::env::temp_dir().join(format!("libprocess-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    TestCerts::create(&dir)
}

async fn node(tls: Option<Arc<Tls>>) -> Runtime {
    Runtime::bind(Config {
        tls,
        ..Config::default()
    })
    .await
    .unwrap()
}

fn counter(rt: &Runtime, name: &str) -> u64 {
    rt.metrics().snapshot_json()[format!("libprocess/transport/{name}")]
        .as_u64()
        .unwrap_or(0)
}

async fn ping(pid: &libprocess::PID<Recorder>, to: &UPID, seq: u64) {
    let to = to.clone();
    pid.dispatch(move |_, ctx: &mut Context<Recorder>| {
        ctx.link_with(&to, RemoteConnection::Reuse);
        ctx.send(
            &to,
            Ping {
                seq,
                payload: "over tls".into(),
            },
        )
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_http_run_over_mutual_tls() {
    let c = certs("mutual");
    let tls = Tls::new(&c.settings()).unwrap();
    let a = node(Some(tls.clone())).await;
    let b = node(Some(tls.clone())).await;
    let (ra, mut rxa) = Recorder::new(false);
    let (rb, mut rxb) = Recorder::new(true);
    let pa = a.spawn("a", ra).unwrap();
    let pb = b.spawn("b", rb).unwrap();
    ping(&pa, pb.upid(), 7).await;
    assert_eq!(
        within("ping", rxb.recv()).await,
        Some(Seen::Ping(pa.upid().clone(), 7))
    );
    assert_eq!(
        within("pong", rxa.recv()).await,
        Some(Seen::Pong(pb.upid().clone(), 7))
    );
    assert!(counter(&a, "tls_connections_accepted") >= 1);
    assert!(counter(&b, "tls_connections_accepted") >= 1);

    // HTTP on the same port, inside TLS.
    let url = format!("https://{}", b.address());
    let r = libprocess::http_client::request_tls(&tls, &url, "GET", "/metrics/snapshot", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.head.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("tls_connections_accepted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_clients_are_refused_without_downgrade_and_served_with_it() {
    let c = certs("downgrade");
    let strict = node(Some(Tls::new(&c.settings()).unwrap())).await;
    assert_eq!(http_get(strict.address(), "/metrics/snapshot").await.0, 0);
    assert!(counter(&strict, "plain_connections_refused") >= 1);

    // A plain node's messages do not get in either: its link sees the connection go.
    let plain = node(None).await;
    let (rs, mut rxs) = Recorder::new(true);
    let ps = strict.spawn("s", rs).unwrap();
    let (rp, mut rxp) = Recorder::new(false);
    let pp = plain.spawn("p", rp).unwrap();
    ping(&pp, ps.upid(), 1).await;
    assert_eq!(
        within("exited", rxp.recv()).await,
        Some(Seen::Exited(ps.upid().clone()))
    );
    assert!(rxs.try_recv().is_err(), "nothing reached the TLS node");

    let lenient = node(Some(
        Tls::new(&TlsSettings {
            support_downgrade: true,
            ..c.settings()
        })
        .unwrap(),
    ))
    .await;
    let (status, body) = http_get(lenient.address(), "/metrics/snapshot").await;
    assert_eq!(status, 200, "{body}");
    let tls = Tls::new(&c.settings()).unwrap();
    let url = format!("https://{}", lenient.address());
    let r = libprocess::http_client::request_tls(&tls, &url, "GET", "/metrics/snapshot", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.head.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificates_are_refused_both_ways() {
    let c = certs("untrusted");
    let server = node(Some(Tls::new(&c.settings()).unwrap())).await;
    let (rs, mut rxs) = Recorder::new(true);
    let ps = server.spawn("s", rs).unwrap();

    // A client whose certificate the server's CA did not sign (it checks nothing itself).
    let rogue = TlsSettings {
        cert_file: c.rogue_cert.clone(),
        key_file: c.rogue_key.clone(),
        verify_server_cert: false,
        ..c.settings()
    };
    let client = node(Some(Tls::new(&rogue).unwrap())).await;
    let (rc, mut rxc) = Recorder::new(false);
    let pc = client.spawn("c", rc).unwrap();
    ping(&pc, ps.upid(), 1).await;
    assert_eq!(
        within("exited", rxc.recv()).await,
        Some(Seen::Exited(ps.upid().clone()))
    );
    assert!(rxs.try_recv().is_err());
    assert!(counter(&server, "tls_handshakes_failed") >= 1);

    // A server whose certificate the client's CA did not sign.
    let rogue_server = node(Some(Tls::new(&rogue).unwrap())).await;
    let (rr, _rxr) = Recorder::new(true);
    let pr = rogue_server.spawn("r", rr).unwrap();
    let honest = node(Some(Tls::new(&c.settings()).unwrap())).await;
    let (rh, mut rxh) = Recorder::new(false);
    let ph = honest.spawn("h", rh).unwrap();
    ping(&ph, pr.upid(), 2).await;
    assert_eq!(
        within("exited", rxh.recv()).await,
        Some(Seen::Exited(pr.upid().clone()))
    );
    let bad_ca = libprocess::http_client::request_tls(
        &Tls::new(&c.settings()).unwrap(),
        &format!("https://{}", rogue_server.address()),
        "GET",
        "/metrics/snapshot",
        &[],
        b"",
    )
    .await;
    assert!(bad_ca.is_err(), "{bad_ca:?}");
}
