//! TLS on the one port (rustls, on the `ring` provider), set up as Mesos's libprocess is: from
//! the `LIBPROCESS_SSL_*` environment (or the older `SSL_*` names).
//!
//! With TLS on, a node's listener takes TLS connections (a ClientHello's first byte, 0x16,
//! tells them apart, as the handshake magic tells binary peers from HTTP clients) and, with
//! `LIBPROCESS_SSL_SUPPORT_DOWNGRADE`, plain ones too; inside TLS the port serves the binary
//! transport and HTTP as it does in clear. Outgoing connections use TLS (and with downgrade
//! retry in clear when the TLS handshake fails).
//!
//! What differs from Mesos (OpenSSL): hostname validation checks the address connected to
//! (our UPIDs carry IPs, so a server certificate must name its IP as a subject alternative
//! name, as with `LIBPROCESS_SSL_VERIFY_IPADD=true`; the legacy scheme's reverse DNS lookup is
//! not done); client certificates are verified against the CA but not against the client's
//! address; the cipher list, curve list, verify depth and protocol switches for SSLv3, TLS 1.0
//! and 1.1 cannot be set (rustls has its own AEAD suites and no such protocols): setting them
//! is refused with a message rather than ignored.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;

/// The first byte of a TLS handshake record (a ClientHello starts with it).
pub const HANDSHAKE_RECORD: u8 = 0x16;

/// What `LIBPROCESS_SSL_*` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// `LIBPROCESS_SSL_CERT_FILE`: this node's certificate chain (PEM).
    pub cert_file: PathBuf,
    /// `LIBPROCESS_SSL_KEY_FILE`: its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// `LIBPROCESS_SSL_CA_FILE`: trusted CA certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// `LIBPROCESS_SSL_CA_DIR`: a directory of trusted CA certificates (PEM files).
    pub ca_dir: Option<PathBuf>,
    /// `LIBPROCESS_SSL_VERIFY_SERVER_CERT` (alias `_VERIFY_CERT`): outgoing connections verify
    /// the server's certificate against the CAs and the address connected to.
    pub verify_server_cert: bool,
    /// `LIBPROCESS_SSL_REQUIRE_CLIENT_CERT` (alias `_REQUIRE_CERT`): incoming connections must
    /// present a certificate the CAs signed (mutual TLS).
    pub require_client_cert: bool,
    /// `LIBPROCESS_SSL_SUPPORT_DOWNGRADE`: accept plain connections too, and retry outgoing
    /// connections in clear when TLS fails.
    pub support_downgrade: bool,
    /// `LIBPROCESS_SSL_ENABLE_TLS_V1_2` (default on).
    pub tls12: bool,
    /// `LIBPROCESS_SSL_ENABLE_TLS_V1_3` (default off, as in Mesos).
    pub tls13: bool,
}

/// A boolean setting: `true`/`1` or `false`/`0`.
fn boolean(name: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!(
            "{name}='{v}' is not a boolean (true, false, 1 or 0)"
        )),
    }
}

/// A setting's value and the name it was found under: `LIBPROCESS_SSL_<key>`, else the older
/// `SSL_<key>`.
fn lookup(get: &impl Fn(&str) -> Option<String>, key: &str) -> Option<(String, String)> {
    let new = format!("LIBPROCESS_SSL_{key}");
    if let Some(v) = get(&new) {
        return Some((new, v));
    }
    let old = format!("SSL_{key}");
    get(&old).map(|v| (old, v))
}

impl TlsSettings {
    /// The settings in this process's environment; `None` when TLS is not enabled.
    pub fn from_env() -> Result<Option<TlsSettings>, String> {
        TlsSettings::from_vars(|k| std::env::var(k).ok())
    }

    /// The settings `get` gives for the `LIBPROCESS_SSL_*` (or legacy `SSL_*`) variables;
    /// `None` when TLS is not enabled. An error names the variable.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<TlsSettings>, String> {
        let var = |key: &str| lookup(&get, key);
        let flag = |key: &str, default: bool| -> Result<bool, String> {
            match var(key) {
                Some((n, v)) => boolean(&n, &v),
                None => Ok(default),
            }
        };
        if !flag("ENABLED", false)? {
            return Ok(None);
        }
        let path = |key: &str| var(key).map(|(_, v)| PathBuf::from(v));
        let (Some(cert_file), Some(key_file)) = (path("CERT_FILE"), path("KEY_FILE")) else {
            return Err(
                "LIBPROCESS_SSL_ENABLED=true needs LIBPROCESS_SSL_CERT_FILE and \
                 LIBPROCESS_SSL_KEY_FILE"
                    .into(),
            );
        };
        // Mesos: the legacy REQUIRE_CERT implies VERIFY_CERT.
        let legacy_require = flag("REQUIRE_CERT", false)?;
        let s = TlsSettings {
            cert_file,
            key_file,
            ca_file: path("CA_FILE"),
            ca_dir: path("CA_DIR"),
            verify_server_cert: flag("VERIFY_SERVER_CERT", false)?
                || flag("VERIFY_CERT", false)?
                || legacy_require,
            require_client_cert: flag("REQUIRE_CLIENT_CERT", false)? || legacy_require,
            support_downgrade: flag("SUPPORT_DOWNGRADE", false)?,
            tls12: flag("ENABLE_TLS_V1_2", true)?,
            tls13: flag("ENABLE_TLS_V1_3", false)?,
        };
        for old in ["ENABLE_SSL_V3", "ENABLE_TLS_V1_0", "ENABLE_TLS_V1_1"] {
            if flag(old, false)? {
                return Err(format!(
                    "LIBPROCESS_SSL_{old}=true is not supported: only TLS 1.2 and 1.3 are"
                ));
            }
        }
        if !s.tls12 && !s.tls13 {
            return Err(
                "LIBPROCESS_SSL_ENABLE_TLS_V1_2 and _V1_3 are both off: no protocol is left".into(),
            );
        }
        if let Some((n, v)) = var("CIPHERS") {
            return Err(format!(
                "{n}='{v}' is not supported: the TLS library offers its own AEAD cipher suites \
                 (AES-GCM, ChaCha20-Poly1305) and takes no OpenSSL cipher list"
            ));
        }
        if let Some((n, v)) = var("ECDH_CURVE").filter(|(_, v)| v != "auto") {
            return Err(format!(
                "{n}='{v}' is not supported: only 'auto' (X25519, P-256, P-384)"
            ));
        }
        if let Some((n, v)) = var("VERIFY_DEPTH").filter(|(_, v)| v.trim() != "4") {
            return Err(format!("{n}='{v}' is not supported: only the default 4"));
        }
        if let Some((n, v)) = var("HOSTNAME_VALIDATION_SCHEME") {
            if v != "legacy" && v != "openssl" {
                return Err(format!("{n}='{v}' must be 'legacy' or 'openssl'"));
            }
        }
        if let Some((n, v)) = var("VERIFY_IPADD") {
            boolean(&n, &v)?;
        }
        Ok(Some(s))
    }
}

/// A node's TLS set-up: how it accepts and how it connects.
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    connector: tokio_rustls::TlsConnector,
    downgrade: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("downgrade", &self.downgrade)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let all: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {what} '{}': {e}", path.display()))?
        .collect();
    let all = all.map_err(|e| format!("cannot read {what} '{}': {e}", path.display()))?;
    if all.is_empty() {
        return Err(format!(
            "{what} '{}' holds no PEM certificate",
            path.display()
        ));
    }
    Ok(all)
}

/// The trusted CAs: the CA file, the CA directory, or else the system's.
fn roots(s: &TlsSettings) -> Result<Arc<RootCertStore>, String> {
    let mut store = RootCertStore::empty();
    let mut add = |c: CertificateDer<'static>, from: &Path| {
        store
            .add(c)
            .map_err(|e| format!("bad CA certificate in '{}': {e}", from.display()))
    };
    if let Some(f) = &s.ca_file {
        for c in certs(f, "LIBPROCESS_SSL_CA_FILE")? {
            add(c, f)?;
        }
    }
    let dir = match (&s.ca_dir, &s.ca_file) {
        (Some(d), _) => Some((d.clone(), true)),
        (None, None) => Some((PathBuf::from("/etc/ssl/certs"), false)),
        (None, Some(_)) => None,
    };
    if let Some((d, named)) = dir {
        let entries = std::fs::read_dir(&d);
        match entries {
            Ok(entries) => {
                for e in entries.flatten() {
                    let p = e.path();
                    if !p.is_file() {
                        continue;
                    }
                    // Files that are not PEM certificates (keys, notes) are passed over.
                    let Ok(iter) = CertificateDer::pem_file_iter(&p) else {
                        continue;
                    };
                    for c in iter.flatten() {
                        let _ = add(c, &p);
                    }
                }
            }
            Err(e) if named => {
                return Err(format!(
                    "cannot read LIBPROCESS_SSL_CA_DIR '{}': {e}",
                    d.display()
                ))
            }
            Err(_) => {}
        }
    }
    if store.is_empty() {
        return Err("no trusted CA certificate: set LIBPROCESS_SSL_CA_FILE or \
                    LIBPROCESS_SSL_CA_DIR"
            .into());
    }
    Ok(Arc::new(store))
}

fn versions(s: &TlsSettings) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut v = Vec::new();
    if s.tls13 {
        v.push(&rustls::version::TLS13);
    }
    if s.tls12 {
        v.push(&rustls::version::TLS12);
    }
    v
}

/// A server certificate check that accepts any certificate (Mesos's default,
/// `LIBPROCESS_SSL_VERIFY_SERVER_CERT=false`) but still checks the handshake's signatures.
#[derive(Debug)]
struct AnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl Tls {
    /// Loads the certificate, key and CAs the settings name; an error says which file and why.
    pub fn new(s: &TlsSettings) -> Result<Arc<Tls>, String> {
        let chain = certs(&s.cert_file, "LIBPROCESS_SSL_CERT_FILE")?;
        let key = PrivateKeyDer::from_pem_file(&s.key_file).map_err(|e| {
            format!(
                "cannot read a private key from LIBPROCESS_SSL_KEY_FILE '{}': {e}",
                s.key_file.display()
            )
        })?;
        let p = provider();
        let versions = versions(s);
        let need_roots = s.verify_server_cert || s.require_client_cert;
        let roots = if need_roots { Some(roots(s)?) } else { None };

        let server = rustls::ServerConfig::builder_with_provider(p.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("TLS set-up: {e}"))?;
        let server = match (&roots, s.require_client_cert) {
            (Some(r), true) => {
                let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    r.clone(),
                    p.clone(),
                )
                .build()
                .map_err(|e| format!("TLS set-up (client certificates): {e}"))?;
                server.with_client_cert_verifier(v)
            }
            _ => server.with_no_client_auth(),
        }
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(|e| {
            format!(
                "LIBPROCESS_SSL_CERT_FILE '{}' and LIBPROCESS_SSL_KEY_FILE '{}' do not make a \
                 usable pair: {e}",
                s.cert_file.display(),
                s.key_file.display()
            )
        })?;

        let client = rustls::ClientConfig::builder_with_provider(p.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("TLS set-up: {e}"))?;
        let client = match (&roots, s.verify_server_cert) {
            (Some(r), true) => client.with_root_certificates(r.clone()),
            _ => client
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServerCert(p.clone()))),
        }
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("TLS set-up (client certificate): {e}"))?;

        Ok(Arc::new(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
            downgrade: s.support_downgrade,
        }))
    }

    /// The set-up this process's environment asks for; `None` when TLS is not enabled.
    pub fn from_env() -> Result<Option<Arc<Tls>>, String> {
        match TlsSettings::from_env()? {
            Some(s) => Tls::new(&s).map(Some),
            None => Ok(None),
        }
    }

    /// Whether plain connections are accepted (and tried when TLS fails) too.
    pub fn downgrade(&self) -> bool {
        self.downgrade
    }

    /// The acceptor for incoming connections.
    pub fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }

    /// Runs the client handshake on a connected stream; `host` is what the server's
    /// certificate must name (when certificates are verified).
    pub async fn connect<S>(
        &self,
        host: &str,
        stream: S,
    ) -> io::Result<tokio_rustls::client::TlsStream<S>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        self.connector.connect(server_name(host)?, stream).await
    }
}

/// The name a server's certificate must carry: its IP address, or its DNS name.
fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(bare.to_string()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{host}' is not a host name: {e}"),
        )
    })
}

/// The TLS set-up of this process's environment, read once: what the HTTP client uses for
/// `https://` (with no TLS enabled there: no client certificate and no server check, as curl's
/// `-k`, since nothing names a CA).
pub fn client_from_env() -> io::Result<Arc<Tls>> {
    static CLIENT: OnceLock<Result<Arc<Tls>, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| match Tls::from_env()? {
            Some(t) => Ok(t),
            None => Tls::anonymous_client(),
        })
        .clone()
        .map_err(io::Error::other)
}

impl Tls {
    /// A client with no certificate that accepts any server certificate.
    fn anonymous_client() -> Result<Arc<Tls>, String> {
        let p = provider();
        let client = rustls::ClientConfig::builder_with_provider(p.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert(p.clone())))
            .with_no_client_auth();
        // Never accepts: it has no certificate to serve.
        let server = rustls::ServerConfig::builder_with_provider(p)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(NoCert));
        Ok(Arc::new(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
            downgrade: false,
        }))
    }
}

#[derive(Debug)]
struct NoCert;

impl rustls::server::ResolvesServerCert for NoCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        None
    }
}

/// Whether the process environment enables TLS (`LIBPROCESS_SSL_ENABLED`): executors then talk
/// to their agent over `https://`, as Mesos's do.
pub fn enabled_in_env() -> bool {
    lookup(&|k: &str| std::env::var(k).ok(), "ENABLED")
        .is_some_and(|(n, v)| boolean(&n, &v) == Ok(true))
}

/// Connects to `addr` and, with `tls`, runs the client handshake (naming the IP); with
/// downgrade on, a failed handshake is retried in clear.
pub(crate) async fn connect_node(
    tls: Option<&Tls>,
    addr: SocketAddr,
    tune: impl Fn(&TcpStream),
) -> io::Result<crate::stream::Stream> {
    let s = TcpStream::connect(addr).await?;
    tune(&s);
    let Some(tls) = tls else {
        return Ok(crate::stream::Stream::Plain(s));
    };
    match tls.connect(&addr.ip().to_string(), s).await {
        Ok(t) => Ok(crate::stream::Stream::Client(Box::new(t))),
        Err(e) if tls.downgrade => {
            tracing::warn!(%addr, "TLS handshake failed ({e}); retrying in clear (downgrade)");
            let s = TcpStream::connect(addr).await?;
            tune(&s);
            Ok(crate::stream::Stream::Plain(s))
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("TLS handshake with {addr} failed: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn off_unless_enabled_and_names_are_read_old_and_new() {
        assert_eq!(TlsSettings::from_vars(vars(&[])), Ok(None));
        assert_eq!(
            TlsSettings::from_vars(vars(&[("LIBPROCESS_SSL_ENABLED", "false")])),
            Ok(None)
        );
        let s = TlsSettings::from_vars(vars(&[
            ("SSL_ENABLED", "1"),
            ("LIBPROCESS_SSL_CERT_FILE", "/c"),
            ("SSL_KEY_FILE", "/k"),
            ("LIBPROCESS_SSL_REQUIRE_CERT", "true"),
            ("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", "true"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.cert_file, PathBuf::from("/c"));
        assert_eq!(s.key_file, PathBuf::from("/k"));
        assert!(s.require_client_cert && s.verify_server_cert && s.support_downgrade);
        assert!(s.tls12 && !s.tls13);
    }

    #[test]
    fn bad_or_unsupported_settings_are_refused_by_name() {
        let base = [
            ("LIBPROCESS_SSL_ENABLED", "true"),
            ("LIBPROCESS_SSL_CERT_FILE", "/c"),
            ("LIBPROCESS_SSL_KEY_FILE", "/k"),
        ];
        let refused = |extra: (&str, &str), says: &str| {
            let mut all = base.to_vec();
            all.push(extra);
            let e = TlsSettings::from_vars(vars(&all)).unwrap_err();
            assert!(e.contains(says), "{extra:?}: {e}");
        };
        refused(
            ("LIBPROCESS_SSL_VERIFY_SERVER_CERT", "yes"),
            "VERIFY_SERVER_CERT",
        );
        refused(("LIBPROCESS_SSL_CIPHERS", "AES128-SHA"), "CIPHERS");
        refused(("LIBPROCESS_SSL_ENABLE_TLS_V1_0", "true"), "TLS_V1_0");
        refused(("LIBPROCESS_SSL_ECDH_CURVE", "prime256v1"), "ECDH_CURVE");
        refused(("LIBPROCESS_SSL_VERIFY_DEPTH", "9"), "VERIFY_DEPTH");
        refused(("LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME", "x"), "legacy");
        refused(("LIBPROCESS_SSL_ENABLE_TLS_V1_2", "false"), "no protocol");
        let e = TlsSettings::from_vars(vars(&[("LIBPROCESS_SSL_ENABLED", "true")])).unwrap_err();
        assert!(e.contains("CERT_FILE"), "{e}");
    }

    #[test]
    fn missing_files_are_named() {
        let s = TlsSettings {
            cert_file: "/nonexistent/cert.pem".into(),
            key_file: "/nonexistent/key.pem".into(),
            tls12: true,
            ..TlsSettings::default()
        };
        let e = Tls::new(&s).unwrap_err();
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
    }
}

/// Certificates made at run time for tests and benchmarks (feature `test-certs`).
#[cfg(feature = "test-certs")]
pub mod test_certs {
    use std::net::{IpAddr, Ipv4Addr};
    use std::path::{Path, PathBuf};

    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};

    use super::TlsSettings;

    /// A CA with one node certificate for 127.0.0.1 and `localhost` (it serves and, as a
    /// client certificate, connects), and a rogue pair from another CA.
    #[derive(Clone, Debug)]
    pub struct TestCerts {
        /// The CA certificate (PEM).
        pub ca: PathBuf,
        /// The node certificate the CA signed.
        pub cert: PathBuf,
        /// Its key.
        pub key: PathBuf,
        /// A certificate (for the same names) from a CA nobody trusts.
        pub rogue_cert: PathBuf,
        /// Its key.
        pub rogue_key: PathBuf,
    }

    fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().expect("CA key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        (p.self_signed(&key).expect("CA certificate"), key)
    }

    fn node(ca: &rcgen::Certificate, ca_key: &KeyPair) -> (String, String) {
        let key = KeyPair::generate().expect("node key");
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).expect("node params");
        p.subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        p.distinguished_name.push(DnType::CommonName, "localhost");
        let cert = p.signed_by(&key, ca, ca_key).expect("node certificate");
        (cert.pem(), key.serialize_pem())
    }

    impl TestCerts {
        /// Writes the files into `dir` (which must exist).
        pub fn create(dir: &Path) -> TestCerts {
            let (ca_cert, ca_key) = ca("mesos-rs test CA");
            let (cert, key) = node(&ca_cert, &ca_key);
            let (rogue_ca, rogue_ca_key) = ca("rogue CA");
            let (rogue_cert, rogue_key) = node(&rogue_ca, &rogue_ca_key);
            let write = |name: &str, text: &str| {
                let p = dir.join(name);
                std::fs::write(&p, text).expect("write a certificate file");
                p
            };
            TestCerts {
                ca: write("ca.pem", &ca_cert.pem()),
                cert: write("cert.pem", &cert),
                key: write("key.pem", &key),
                rogue_cert: write("rogue-cert.pem", &rogue_cert),
                rogue_key: write("rogue-key.pem", &rogue_key),
            }
        }

        /// Mutual TLS with verification both ways, no downgrade.
        pub fn settings(&self) -> TlsSettings {
            TlsSettings {
                cert_file: self.cert.clone(),
                key_file: self.key.clone(),
                ca_file: Some(self.ca.clone()),
                ca_dir: None,
                verify_server_cert: true,
                require_client_cert: true,
                support_downgrade: false,
                tls12: true,
                tls13: false,
            }
        }

        /// The same as `LIBPROCESS_SSL_*` environment settings for a child process.
        pub fn env(&self, downgrade: bool) -> Vec<(String, String)> {
            let p = |p: &PathBuf| p.display().to_string();
            [
                ("LIBPROCESS_SSL_ENABLED", "true".to_string()),
                ("LIBPROCESS_SSL_CERT_FILE", p(&self.cert)),
                ("LIBPROCESS_SSL_KEY_FILE", p(&self.key)),
                ("LIBPROCESS_SSL_CA_FILE", p(&self.ca)),
                ("LIBPROCESS_SSL_VERIFY_SERVER_CERT", "true".into()),
                ("LIBPROCESS_SSL_REQUIRE_CLIENT_CERT", "true".into()),
                ("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", downgrade.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        }
    }
}
