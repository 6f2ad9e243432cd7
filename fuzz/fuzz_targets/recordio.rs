//! RecordIO decoding of an event stream, as its bytes arrive.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libprocess::http_client::take_record;

fuzz_target!(|data: &[u8]| {
    // As pieces arrive: the first byte splits the input in two pieces.
    let cut = data.first().map_or(0, |b| *b as usize).min(data.len());
    let mut pending = Vec::new();
    for piece in [&data[..cut], &data[cut..]] {
        pending.extend_from_slice(piece);
        loop {
            match take_record(&mut pending) {
                Ok(Some(rec)) => assert!(rec.len() <= data.len()),
                Ok(None) | Err(_) => break,
            }
        }
    }
});
