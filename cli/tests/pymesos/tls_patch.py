"""pymesos over TLS.

pymesos 0.3.15 speaks plain HTTP only: `HTTPConnection` for calls and a raw non-blocking
socket (`pymesos.process.Connection`) for the SUBSCRIBE stream.  When the environment
enables TLS the way Mesos components read it (LIBPROCESS_SSL_ENABLED, _CERT_FILE,
_KEY_FILE, _CA_FILE, _VERIFY_SERVER_CERT), `install()` swaps both for TLS with that
client certificate, as a pymesos user facing a TLS-only master would wrap it.  Nothing
else in pymesos changes.
"""
import errno
import http.client
import os
import socket
import ssl


def _true(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true")


def context():
    """The client TLS context the LIBPROCESS_SSL_* environment describes, or None."""
    if not _true("LIBPROCESS_SSL_ENABLED"):
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca = os.environ.get("LIBPROCESS_SSL_CA_FILE")
    if ca:
        ctx.load_verify_locations(ca)
    if not _true("LIBPROCESS_SSL_VERIFY_SERVER_CERT"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(os.environ["LIBPROCESS_SSL_CERT_FILE"],
                        os.environ["LIBPROCESS_SSL_KEY_FILE"])
    return ctx


class _NonBlockingTls(object):
    """A non-blocking TLS socket that says "would block" as pymesos expects (EAGAIN)."""

    def __init__(self, sock):
        self._sock = sock

    def recv(self, n):
        try:
            return self._sock.recv(n)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise BlockingIOError(errno.EAGAIN, "would block")

    def send(self, data):
        try:
            return self._sock.send(data)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise BlockingIOError(errno.EAGAIN, "would block")

    def __getattr__(self, name):
        return getattr(self._sock, name)


def install():
    """Makes pymesos use TLS when the environment enables it; returns whether it does."""
    ctx = context()
    if ctx is None:
        return False
    import pymesos.executor
    import pymesos.process
    import pymesos.scheduler

    def https(host, port, timeout=None):
        return http.client.HTTPSConnection(host, port, timeout=timeout,
                                           context=ctx)

    pymesos.scheduler.HTTPConnection = https
    pymesos.executor.HTTPConnection = https

    class TlsConnection(pymesos.process.Connection):
        def __init__(self, addr, callback):
            host, port = addr.split(":", 2)
            self._addr = (host, int(port))
            raw = socket.create_connection(self._addr, timeout=10)
            tls = ctx.wrap_socket(raw, server_hostname=host)
            tls.setblocking(False)
            self._sock = _NonBlockingTls(tls)
            self.connected = False
            self._parser = pymesos.process.HttpParser()
            self._callback = callback
            self._stream_id = None
            self._request = callback.gen_request()
            self._response = b""

        def read(self):
            # TLS may hold decrypted bytes that select() cannot see: drain them.
            ok = super(TlsConnection, self).read()
            while ok and self._sock.pending():
                ok = super(TlsConnection, self).read()
            return ok

    pymesos.process.Connection = TlsConnection
    return True
