//! Kafka's primitive types for the `__transaction_state` records: a bounds-checked reader
//! over untrusted bytes and a writer, each in the classic form (int16/int32 lengths, -1 for
//! null) or the flexible one (unsigned varint lengths plus one, 0 for null; tagged fields).
//!
//! A minimal sibling of the reader and writer in `crate::records`, kept here so that the
//! transaction records do not reach into the group records' private helpers.

use bytes::{BufMut, Bytes, BytesMut};

use super::records::TxnRecordError;

type Result<T> = std::result::Result<T, TxnRecordError>;

/// Kafka's generated code refuses strings longer than this, compact or not.
pub(super) const MAX_STRING_LEN: usize = 0x7fff;
/// A null in Kafka's lengths and counts (after the compact form's minus one).
const NULL_LENGTH: i64 = -1;

/// A cursor over untrusted bytes. Every read checks the bytes that remain; no length or
/// count is returned before it is checked against them.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pub(super) flexible: bool,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            flexible: false,
        }
    }

    pub(super) fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(TxnRecordError::Truncated {
                field,
                needed: n,
                remaining: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    pub(super) fn i8(&mut self, field: &'static str) -> Result<i8> {
        self.array(field).map(i8::from_be_bytes)
    }

    pub(super) fn i16(&mut self, field: &'static str) -> Result<i16> {
        self.array(field).map(i16::from_be_bytes)
    }

    pub(super) fn i32(&mut self, field: &'static str) -> Result<i32> {
        self.array(field).map(i32::from_be_bytes)
    }

    pub(super) fn i64(&mut self, field: &'static str) -> Result<i64> {
        self.array(field).map(i64::from_be_bytes)
    }

    /// Kafka's unsigned varint: at most five bytes, at most `u32::MAX`.
    fn uvarint(&mut self, field: &'static str) -> Result<u32> {
        let mut value: u64 = 0;
        for i in 0..5 {
            let [b] = self.array::<1>(field)?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(value).map_err(|_| TxnRecordError::MalformedVarint { field });
            }
        }
        Err(TxnRecordError::MalformedVarint { field })
    }

    /// A length or count prefix (int16 for strings, int32 for arrays in the classic form);
    /// None is null. Never more than the bytes that remain: every element of an array and
    /// every byte of a string takes at least one byte.
    fn length(&mut self, field: &'static str, wide: bool) -> Result<Option<usize>> {
        let len = if self.flexible {
            i64::from(self.uvarint(field)?) - 1
        } else if wide {
            i64::from(self.i32(field)?)
        } else {
            i64::from(self.i16(field)?)
        };
        match len {
            NULL_LENGTH => Ok(None),
            len if len < 0 => Err(TxnRecordError::InvalidLength { field, len }),
            len if len as u64 > self.remaining() as u64 => {
                Err(TxnRecordError::InvalidLength { field, len })
            }
            len => Ok(Some(len as usize)),
        }
    }

    pub(super) fn string(&mut self, field: &'static str) -> Result<String> {
        let len = self
            .length(field, false)?
            .ok_or(TxnRecordError::UnexpectedNull { field })?;
        if len > MAX_STRING_LEN {
            return Err(TxnRecordError::InvalidLength {
                field,
                len: len as i64,
            });
        }
        let raw = self.take(field, len)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| TxnRecordError::InvalidUtf8 { field })
    }

    /// An array's element count; None is null (for nullable arrays).
    pub(super) fn nullable_array_len(&mut self, field: &'static str) -> Result<Option<usize>> {
        self.length(field, true)
    }

    /// A non-nullable array's element count.
    pub(super) fn array_len(&mut self, field: &'static str) -> Result<usize> {
        self.length(field, true)?
            .ok_or(TxnRecordError::UnexpectedNull { field })
    }

    /// Reads a flexible version's tagged fields, handing each (tag, its bytes) to `field_of`,
    /// which decodes the tags its schema knows and ignores the others, as Kafka's generated
    /// readers skip unknown tags. Each field costs at least two bytes, so the loop ends with
    /// the input. Nothing to read in a classic version.
    pub(super) fn tagged_fields(
        &mut self,
        field: &'static str,
        mut field_of: impl FnMut(u32, &'a [u8]) -> Result<()>,
    ) -> Result<()> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.uvarint(field)?;
        for _ in 0..count {
            let tag = self.uvarint(field)?;
            let size = self.uvarint(field)? as usize;
            let bytes = self.take(field, size)?;
            field_of(tag, bytes)?;
        }
        Ok(())
    }
}

/// Writes Kafka's primitive types, classic or flexible, after the int16 version.
pub(super) struct Writer {
    buf: BytesMut,
    flexible: bool,
}

impl Writer {
    pub(super) fn new(version: i16, flexible: bool) -> Self {
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i16(version);
        Writer { buf, flexible }
    }

    pub(super) fn finish(self) -> Bytes {
        self.buf.freeze()
    }

    pub(super) fn i8(&mut self, v: i8) {
        self.buf.put_i8(v);
    }

    pub(super) fn i16(&mut self, v: i16) {
        self.buf.put_i16(v);
    }

    pub(super) fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }

    pub(super) fn i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }

    fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }

    /// A length prefix; None is null. `max` is what the classic prefix can hold.
    fn length(
        &mut self,
        field: &'static str,
        len: Option<usize>,
        wide: bool,
        max: usize,
    ) -> Result<()> {
        if let Some(len) = len {
            // A compact length is stored plus one in a u32.
            let limit = if self.flexible {
                max.min(u32::MAX as usize - 1)
            } else {
                max
            };
            if len > limit {
                return Err(TxnRecordError::TooLong {
                    field,
                    len,
                    max: limit,
                });
            }
        }
        match (self.flexible, len) {
            (true, None) => self.uvarint(0),
            (true, Some(len)) => self.uvarint(len as u32 + 1),
            (false, None) if wide => self.buf.put_i32(-1),
            (false, None) => self.buf.put_i16(-1),
            (false, Some(len)) if wide => self.buf.put_i32(len as i32),
            (false, Some(len)) => self.buf.put_i16(len as i16),
        }
        Ok(())
    }

    pub(super) fn string(&mut self, field: &'static str, s: &str) -> Result<()> {
        self.length(field, Some(s.len()), false, MAX_STRING_LEN)?;
        self.buf.put_slice(s.as_bytes());
        Ok(())
    }

    /// An array's element count; None writes a null array.
    pub(super) fn array_len(&mut self, field: &'static str, n: Option<usize>) -> Result<()> {
        self.length(field, n, true, i32::MAX as usize)
    }

    /// A tagged-field section holding `fields` (tag, encoded field) in increasing tag order,
    /// as Kafka requires; fields at their default are left out by the caller, as Kafka's
    /// generated writers leave them out. Nothing in a classic version.
    pub(super) fn tagged_fields(&mut self, fields: &[(u32, &[u8])]) {
        if !self.flexible {
            return;
        }
        debug_assert!(
            fields.windows(2).all(|w| w[0].0 < w[1].0),
            "tags out of order"
        );
        // Tagged fields here are fixed-size integers: their sizes fit any varint.
        self.uvarint(fields.len() as u32);
        for (tag, bytes) in fields {
            self.uvarint(*tag);
            self.uvarint(bytes.len() as u32);
            self.buf.put_slice(bytes);
        }
    }
}
