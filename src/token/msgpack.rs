//! A zero-copy cursor over the msgpack a Fernet payload is made of, reading only the shapes
//! keystone writes (arrays, ints, floats, booleans, nil, str and bin), on top of `rmp`.
//!
//! Strings and binaries are interchangeable byte strings here: keystone packs with
//! `use_bin_type=True` today, but tokens from before msgpack 1.0 carry everything as "raw"
//! (str) and keystone still reads them (`unpackb(raw=True)` fallback). Every read checks the
//! remaining length first, so no input can make it panic or allocate.

use rmp::Marker;
use rmp::decode::{self, NumValueReadError, ValueReadError};

/// What went wrong while reading one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadError {
    /// The payload field being read (`user_id`, `expires_at`...).
    pub field: &'static str,
    /// What was there instead.
    pub found: String,
}

/// A cursor over msgpack bytes.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

fn describe(marker: Option<Marker>) -> String {
    match marker {
        None => "the end of the payload".into(),
        Some(Marker::Null) => "nil".into(),
        Some(Marker::True | Marker::False) => "a boolean".into(),
        Some(Marker::F32 | Marker::F64) => "a float".into(),
        Some(Marker::FixArray(_) | Marker::Array16 | Marker::Array32) => "an array".into(),
        Some(Marker::FixMap(_) | Marker::Map16 | Marker::Map32) => "a map".into(),
        Some(Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32) => "a string".into(),
        Some(Marker::Bin8 | Marker::Bin16 | Marker::Bin32) => "binary data".into(),
        Some(
            Marker::FixPos(_)
            | Marker::FixNeg(_)
            | Marker::U8
            | Marker::U16
            | Marker::U32
            | Marker::U64
            | Marker::I8
            | Marker::I16
            | Marker::I32
            | Marker::I64,
        ) => "an integer".into(),
        Some(other) => format!("msgpack type {other:?}"),
    }
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// The marker of the next value, without consuming it.
    pub(crate) fn peek(&self) -> Option<Marker> {
        self.rest.first().map(|&b| Marker::from_u8(b))
    }

    fn mismatch(&self, field: &'static str) -> ReadError {
        ReadError {
            field,
            found: describe(self.peek()),
        }
    }

    fn truncated(field: &'static str) -> ReadError {
        ReadError {
            field,
            found: "a value cut short".into(),
        }
    }

    fn value_err<E>(&self, field: &'static str, e: ValueReadError<E>) -> ReadError
    where
        E: decode::RmpReadErr,
    {
        match e {
            ValueReadError::TypeMismatch(_) => self.mismatch(field),
            _ if self.rest.is_empty() => self.mismatch(field),
            _ => Self::truncated(field),
        }
    }

    /// An array header: the number of elements that follow.
    pub(crate) fn array(&mut self, field: &'static str) -> Result<u32, ReadError> {
        let before = self.rest;
        decode::read_array_len(&mut self.rest).map_err(|e| {
            self.rest = before;
            self.value_err(field, e)
        })
    }

    /// A signed integer (any msgpack int that fits in 64 bits signed).
    pub fn int(&mut self, field: &'static str) -> Result<i64, ReadError> {
        let before = self.rest;
        decode::read_int::<i64, _>(&mut self.rest).map_err(|e| {
            self.rest = before;
            match e {
                NumValueReadError::TypeMismatch(_) => self.mismatch(field),
                _ if self.rest.is_empty() => self.mismatch(field),
                NumValueReadError::OutOfRange => ReadError {
                    field,
                    found: "an integer out of range".into(),
                },
                _ => Self::truncated(field),
            }
        })
    }

    /// A number as a float: float32, float64 or an integer (Python's `fromtimestamp` takes all).
    pub(crate) fn float(&mut self, field: &'static str) -> Result<f64, ReadError> {
        match self.peek() {
            Some(Marker::F64) => {
                let before = self.rest;
                decode::read_f64(&mut self.rest).map_err(|e| {
                    self.rest = before;
                    self.value_err(field, e)
                })
            }
            Some(Marker::F32) => {
                let before = self.rest;
                decode::read_f32(&mut self.rest)
                    .map(f64::from)
                    .map_err(|e| {
                        self.rest = before;
                        self.value_err(field, e)
                    })
            }
            _ => self.int(field).map(|i| i as f64),
        }
    }

    /// A boolean.
    pub(crate) fn boolean(&mut self, field: &'static str) -> Result<bool, ReadError> {
        let value = match self.peek() {
            Some(Marker::True) => true,
            Some(Marker::False) => false,
            _ => return Err(self.mismatch(field)),
        };
        self.rest = &self.rest[1..];
        Ok(value)
    }

    /// Consumes a nil if one is next.
    pub(crate) fn nil(&mut self) -> bool {
        if self.peek() == Some(Marker::Null) {
            self.rest = &self.rest[1..];
            true
        } else {
            false
        }
    }

    /// A str or bin value, borrowed.
    pub fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], ReadError> {
        let before = self.rest;
        let len = match self.peek() {
            Some(Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32) => {
                decode::read_str_len(&mut self.rest)
            }
            Some(Marker::Bin8 | Marker::Bin16 | Marker::Bin32) => {
                decode::read_bin_len(&mut self.rest)
            }
            _ => return Err(self.mismatch(field)),
        }
        .map_err(|e| {
            self.rest = before;
            self.value_err(field, e)
        })?;
        let len = len as usize;
        if self.rest.len() < len {
            self.rest = before;
            return Err(Self::truncated(field));
        }
        let (value, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keystone_shapes() {
        // [2, true, 1.5, "ab", b"\x01\x02", nil, -3, 300]
        let bytes = [
            0x98, 0x02, 0xc3, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xa2, b'a', b'b', 0xc4, 2, 1, 2,
            0xc0, 0xfd, 0xcd, 0x01, 0x2c,
        ];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.array("top").unwrap(), 8);
        assert_eq!(r.int("a").unwrap(), 2);
        assert!(r.boolean("b").unwrap());
        assert_eq!(r.float("c").unwrap(), 1.5);
        assert_eq!(r.bytes("d").unwrap(), b"ab");
        assert_eq!(r.bytes("e").unwrap(), &[1, 2]);
        assert!(r.nil());
        assert_eq!(r.int("f").unwrap(), -3);
        assert_eq!(r.float("g").unwrap(), 300.0);
        assert_eq!(r.peek(), None);
    }

    #[test]
    fn mismatches_and_truncation_are_errors() {
        let mut r = Reader::new(&[0xa2, b'a']);
        assert_eq!(r.int("x").unwrap_err().found, "a string");
        assert_eq!(r.bytes("x").unwrap_err().found, "a value cut short");
        let mut r = Reader::new(&[0xc5, 0xff]);
        assert_eq!(r.bytes("x").unwrap_err().found, "a value cut short");
        let mut r = Reader::new(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.int("x").unwrap_err().found, "an integer out of range");
        let mut r = Reader::new(&[]);
        assert_eq!(r.array("x").unwrap_err().found, "the end of the payload");
    }
}
