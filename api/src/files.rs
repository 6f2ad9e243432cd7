//! Reading the files operators ask for (Mesos's `/files/read`, READ_FILE), in bounded pieces.

use std::collections::HashMap;
use std::io::{Read as _, Seek, SeekFrom};
use std::path::Path;

use serde_json::{json, Value};

use crate::http::Rejection;

/// The most one read returns (Mesos's web UI reads pages of 50 KB).
pub const MAX_READ: u64 = 1 << 20;

/// What a read returned: the file's size, where the data starts, the data.
#[derive(Debug)]
pub struct Read {
    /// The file's size.
    pub size: u64,
    /// Where `data` starts (the asked offset, at most the size).
    pub offset: u64,
    /// At most [`MAX_READ`] bytes.
    pub data: Vec<u8>,
}

/// Up to `length` (at most [`MAX_READ`]) bytes of the file at `path` from `offset` (clamped to
/// its size).
pub fn read(path: &Path, offset: u64, length: Option<u64>) -> std::io::Result<Read> {
    let mut f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    let offset = offset.min(size);
    let length = length.unwrap_or(MAX_READ).min(MAX_READ);
    let mut data = Vec::new();
    f.seek(SeekFrom::Start(offset))?;
    f.take(length).read_to_end(&mut data)?;
    Ok(Read { size, offset, data })
}

/// How a server reads one of its files: (path asked for, offset, length) to a [`Read`].
pub trait Reader: FnOnce(&str, u64, Option<u64>) -> Result<Read, Rejection> {}
impl<F: FnOnce(&str, u64, Option<u64>) -> Result<Read, Rejection>> Reader for F {}

/// The classic `/files/read?path=&offset=&length=`: `{"data", "offset"}`; offset -1 (or none)
/// asks for the size alone, as `{"data": "", "offset": size}`.
pub fn classic_read(q: &HashMap<String, String>, read: impl Reader) -> Result<Value, Rejection> {
    let num = |k: &str| -> Result<Option<i64>, Rejection> {
        q.get(k)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    Rejection::bad_request(format!("Failed to parse '{k}': '{v}' is not a number"))
                })
            })
            .transpose()
    };
    let p = q
        .get("path")
        .ok_or_else(|| Rejection::bad_request("Expecting 'path' query parameter"))?;
    let (offset, length) = (num("offset")?.unwrap_or(-1), num("length")?);
    if offset < 0 {
        let r = read(p, 0, Some(0))?;
        return Ok(json!({"data": "", "offset": r.size}));
    }
    let r = read(p, offset as u64, length.map(|l| l.max(0) as u64))?;
    Ok(json!({"data": String::from_utf8_lossy(&r.data), "offset": r.offset}))
}

/// The v1 READ_FILE: `{"size", "data" (base64)}` from `offset`, at most `length` bytes.
pub fn read_file(body: &Value, read: impl Reader) -> Result<Value, Rejection> {
    let p = body["path"]
        .as_str()
        .ok_or_else(|| Rejection::bad_request("Expecting 'read_file.path' to be present"))?;
    let offset = body["offset"]
        .as_u64()
        .ok_or_else(|| Rejection::bad_request("Expecting 'read_file.offset' to be present"))?;
    let length = match &body["length"] {
        Value::Null => None,
        v => Some(v.as_u64().ok_or_else(|| {
            Rejection::bad_request("'read_file.length' must be a non-negative number")
        })?),
    };
    let r = read(p, offset, length)?;
    Ok(json!({"size": r.size, "data": crate::serde_util::base64_encode(&r.data)}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_clamped_and_bounded() {
        let p = std::env::temp_dir().join(format!("mesos-files-{}", std::process::id()));
        std::fs::write(&p, b"0123456789").unwrap();
        let r = read(&p, 2, Some(3)).unwrap();
        assert_eq!((r.size, r.offset, r.data.as_slice()), (10, 2, &b"234"[..]));
        let r = read(&p, 50, None).unwrap();
        assert_eq!((r.offset, r.data.len()), (10, 0));
        std::fs::write(&p, vec![b'x'; (MAX_READ + 10) as usize]).unwrap();
        assert_eq!(read(&p, 0, None).unwrap().data.len() as u64, MAX_READ);
        let _ = std::fs::remove_file(&p);
    }
}
