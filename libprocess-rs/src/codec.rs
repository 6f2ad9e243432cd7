//! The body codec, behind one module so it can be swapped. postcard 1.x: a frozen wire format,
//! maintained, and the fastest of the candidates on our message mix (see docs/runtime.md, the codec decision).

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a body could not be encoded or decoded. It wraps the codec's own error, so that the
/// codec can be swapped without changing the runtime's API.
#[derive(Debug)]
pub struct CodecError(postcard::Error);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for CodecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Encodes a value into a new vector.
pub fn encode_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    postcard::to_stdvec(value).map_err(CodecError)
}

/// Appends the encoding of a value to `out`; on error `out` is left as it was.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    let r = postcard::serialize_with_flavor(value, VecTail(out));
    if r.is_err() {
        out.truncate(start);
    }
    r.map_err(CodecError)
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
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    postcard::from_bytes(bytes).map_err(CodecError)
}
