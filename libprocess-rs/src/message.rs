//! Named messages: the [`Message`] trait, message bodies (local values or encoded bytes) and the
//! event a handler receives.

use std::any::{Any, TypeId};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use crate::error::{Error, Result};
use crate::upid::UPID;

/// A message type with a wire name, like a protobuf type name in libprocess
/// (`"mesos.internal.RegisterSlaveMessage"`). The body travels encoded by the runtime's codec.
pub trait Message: Serialize + DeserializeOwned + Send + 'static {
    /// The name the message is sent and installed under.
    const NAME: &'static str;
}

/// A message name: static for names known at compile time, shared for names read off the wire.
#[derive(Clone)]
pub enum Name {
    /// A compile-time name (no allocation to send).
    Static(&'static str),
    /// A name decoded from a frame (interned per connection).
    Shared(Arc<str>),
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Name::Static(s) => s,
            Name::Shared(s) => s,
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl From<&'static str> for Name {
    fn from(s: &'static str) -> Name {
        Name::Static(s)
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name::Shared(Arc::from(s))
    }
}

/// A value sent between processes of one runtime: kept as a value (no encoding), but able to
/// encode itself if the receiver expects a different Rust type under the same name.
pub trait LocalBody: Send {
    /// Encodes the value with the runtime's codec.
    fn encode(&self) -> std::result::Result<Vec<u8>, crate::codec::CodecError>;
    /// The value, for downcasting.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
    /// The concrete type's id.
    fn value_type(&self) -> TypeId;
}

impl<T: Serialize + Send + 'static> LocalBody for T {
    fn encode(&self) -> std::result::Result<Vec<u8>, crate::codec::CodecError> {
        codec::encode_vec(self)
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
    fn value_type(&self) -> TypeId {
        TypeId::of::<T>()
    }
}

/// A message body: a local value or bytes from the wire.
pub enum Body {
    /// Sent within this runtime; not encoded.
    Local(Box<dyn LocalBody>),
    /// Received over the transport (or built from raw bytes).
    Encoded(Bytes),
}

impl Body {
    /// Builds a local body from a value.
    pub fn local<T: Serialize + Send + 'static>(value: T) -> Body {
        Body::Local(Box::new(value))
    }

    /// Decodes the body as `M`; a local value of type `M` is moved out without encoding.
    pub fn decode<M: DeserializeOwned + 'static>(self, name: &str) -> Result<M> {
        let codec_err = |source| Error::Codec {
            name: name.to_string(),
            source,
        };
        match self {
            Body::Encoded(b) => codec::decode(&b).map_err(codec_err),
            Body::Local(l) if l.value_type() == TypeId::of::<M>() => l
                .into_any()
                .downcast::<M>()
                .map(|m| *m)
                .map_err(|_| Error::NoSuchProcess(format!("type confusion decoding '{name}'"))),
            Body::Local(l) => {
                let bytes = l.encode().map_err(codec_err)?;
                codec::decode(&bytes).map_err(codec_err)
            }
        }
    }

    /// The encoded bytes of the body (encoding a local value).
    pub fn to_bytes(&self) -> Result<Bytes> {
        match self {
            Body::Encoded(b) => Ok(b.clone()),
            Body::Local(l) => l.encode().map(Bytes::from).map_err(|source| Error::Codec {
                name: String::new(),
                source,
            }),
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Local(_) => f.write_str("Body::Local"),
            Body::Encoded(b) => write!(f, "Body::Encoded({} bytes)", b.len()),
        }
    }
}

/// A message delivered to a process: its name, its sender (`UPID::none()` for a post) and body.
#[derive(Debug)]
pub struct MessageEvent {
    /// The message name.
    pub name: Name,
    /// The sender; empty for messages posted without a return address.
    pub from: UPID,
    /// The body.
    pub body: Body,
}
