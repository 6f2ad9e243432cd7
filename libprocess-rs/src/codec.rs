//! The body codec, behind one module so it can be swapped. postcard 1.x: a frozen wire format,
//! maintained, and the fastest of the candidates on our message mix (see the README's figures).

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Encodes a value into a new vector.
pub fn encode_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(value)
}

/// Appends the encoding of a value to `out`; on error `out` is left as it was.
pub fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), postcard::Error> {
    let start = out.len();
    let r = postcard::serialize_with_flavor(value, VecTail(out));
    if r.is_err() {
        out.truncate(start);
    }
    r
}

/// A postcard flavor that appends to a borrowed vector.
struct VecTail<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for VecTail<'_> {
    type Output = ();
    fn try_push(&mut self, b: u8) -> postcard::Result<()> {
        self.0.push(b);
        Ok(())
    }
    fn try_extend(&mut self, b: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(b);
        Ok(())
    }
    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Decodes a value from bytes; trailing bytes are ignored (forward compatibility).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}
