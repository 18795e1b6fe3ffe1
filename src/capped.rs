//! Bodies read with a hard cap: a body of any declared length, or of none, is never held beyond
//! its limit plus one chunk, so one request or provider answer cannot fill an isolate's memory.
//! Pure: the Workers layer feeds the chunks it reads and stops at the first refusal.

/// A body is larger than its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// The limit, in bytes.
    pub limit: usize,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.limit.is_multiple_of(1024) {
            write!(f, "larger than {} KiB", self.limit / 1024)
        } else {
            write!(f, "larger than {} bytes", self.limit)
        }
    }
}

/// Why a body was not had in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    /// Larger than its limit (nothing read beyond it).
    TooLarge(TooLarge),
    /// The runtime could not read it to its end (the peer went away).
    Broken,
}

/// Whether a declared `Content-Length` already says the body is too large (read nothing then).
/// An unreadable length is left to the reader, which stops at the limit anyway.
pub fn declared_too_large(content_length: Option<&str>, limit: usize) -> Result<(), TooLarge> {
    match content_length.and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(length) if length > limit as u64 => Err(TooLarge { limit }),
        _ => Ok(()),
    }
}

/// A body being read chunk by chunk, refused as soon as it passes its limit.
#[derive(Debug)]
pub struct CappedBody {
    limit: usize,
    bytes: Vec<u8>,
}

impl CappedBody {
    /// An empty body that may grow to `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self { limit, bytes: Vec::new() }
    }

    /// Add the next chunk; refused (and nothing more should be read) once the body passes the limit.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), TooLarge> {
        if chunk.len() > self.limit - self.bytes.len() {
            return Err(TooLarge { limit: self.limit });
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The whole body.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_lengths() {
        assert_eq!(declared_too_large(Some("16384"), 16384), Ok(()));
        assert_eq!(declared_too_large(Some("16385"), 16384), Err(TooLarge { limit: 16384 }));
        assert_eq!(declared_too_large(Some("209715200"), 16384), Err(TooLarge { limit: 16384 }));
        assert_eq!(
            declared_too_large(Some("99999999999999999999999"), 16384),
            Ok(()),
            "unreadable: the reader caps it"
        );
        assert_eq!(declared_too_large(None, 16384), Ok(()));
        assert_eq!(TooLarge { limit: 16384 }.to_string(), "larger than 16 KiB");
        assert_eq!(TooLarge { limit: 1000 }.to_string(), "larger than 1000 bytes");
    }

    #[test]
    fn reading_stops_at_the_limit() {
        let mut body = CappedBody::new(10);
        assert_eq!(body.push(b"12345"), Ok(()));
        assert_eq!(body.push(b"67890"), Ok(()));
        assert_eq!(body.push(b""), Ok(()));
        assert_eq!(body.push(b"x"), Err(TooLarge { limit: 10 }));
        assert_eq!(body.into_bytes(), b"1234567890");
        let mut big = CappedBody::new(4);
        assert!(big.push(&[0; 1 << 20]).is_err(), "one large chunk is refused, not kept");
        assert!(big.into_bytes().is_empty());
    }
}
