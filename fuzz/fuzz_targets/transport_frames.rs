//! The binary transport's handshake and frame decoder, as a peer's bytes reach them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libprocess::transport::wire;

fuzz_target!(|data: &[u8]| {
    let mut buf = data;
    if let Ok(Some((_, n))) = wire::parse_handshake(buf) {
        buf = &buf[n..];
    }
    // Frames one after another until one is incomplete or malformed (which closes a
    // connection).
    loop {
        match wire::frame_len(buf, 1 << 20) {
            Ok(Some(n)) if n <= buf.len() => {
                let raw = bytes::Bytes::copy_from_slice(&buf[..n]);
                match wire::parse_frame(raw) {
                    Ok(f) => {
                        let _ = wire::text(f.to_id());
                        let _ = wire::text(f.from());
                        let _ = wire::text(f.name());
                        let _ = f.body();
                    }
                    Err(_) => break,
                }
                buf = &buf[n..];
            }
            _ => break,
        }
    }
});
