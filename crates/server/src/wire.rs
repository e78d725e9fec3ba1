//! Bounded peeks at request bodies, for what the codec does not bound itself.
//!
//! `kafka-protocol` 0.18 decodes an array by reserving capacity for the element count read
//! from the wire before decoding any element, so a 10-byte request declaring two billion
//! elements asks the allocator for many gigabytes, and an allocation failure aborts the
//! process. A handler whose request starts with an array checks the count here first: every
//! element takes at least `min_element_bytes` on the wire, so a count larger than the bytes
//! left can only be a lie.

/// Checks the array that starts `body`: an int32 count (`flexible == false`, -1 = null) or
/// an unsigned varint of count + 1 (`flexible == true`, 0 = null).
pub fn check_leading_array(
    body: &[u8],
    flexible: bool,
    min_element_bytes: usize,
) -> Result<(), String> {
    let (count, header_len) = if flexible {
        let (value, len) = read_unsigned_varint(body)?;
        (i64::from(value) - 1, len)
    } else {
        let bytes: [u8; 4] = body
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or("array length truncated")?;
        (i64::from(i32::from_be_bytes(bytes)), 4)
    };
    if count < 0 {
        // Null (or a negative length the codec will refuse itself).
        return Ok(());
    }
    let remaining = body.len() - header_len;
    let fits = (remaining / min_element_bytes.max(1)) as i64;
    if count > fits {
        return Err(format!(
            "array declares {count} elements but only {remaining} bytes follow"
        ));
    }
    Ok(())
}

/// The position just past the compact (nullable) string that starts at `pos` of `body`:
/// an unsigned varint of length + 1 (0 = null), then the bytes.
pub fn skip_compact_string(body: &[u8], pos: usize) -> Result<usize, String> {
    let (value, len) = read_unsigned_varint(body.get(pos..).ok_or("string truncated")?)?;
    let end = (pos + len)
        .checked_add((value as usize).saturating_sub(1))
        .ok_or("string too long")?;
    if end > body.len() {
        return Err("string truncated".to_string());
    }
    Ok(end)
}

/// For a request body that starts with two compact strings (its group and member ids)
/// and then `fixed` bytes: the `len` bytes after those, which a version newer than the
/// codec's put there, and the body without them for the codec to read as the version
/// before.
pub fn take_after_ids(
    body: &[u8],
    fixed: usize,
    len: usize,
) -> Result<(Vec<u8>, bytes::Bytes), String> {
    let at = skip_compact_string(body, skip_compact_string(body, 0)?)? + fixed;
    let added = body
        .get(at..at.saturating_add(len))
        .ok_or("request truncated")?
        .to_vec();
    Ok((added, without(body, at, len)?))
}

/// `body` without its bytes `at..at + len`: a field of a version newer than the codec's,
/// taken out so that the codec reads the rest as the version before (which must then
/// have the same layout).
pub fn without(body: &[u8], at: usize, len: usize) -> Result<bytes::Bytes, String> {
    let end = at.checked_add(len).filter(|&e| e <= body.len());
    let end = end.ok_or("request truncated")?;
    let mut out = bytes::BytesMut::with_capacity(body.len() - len);
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(&body[end..]);
    Ok(out.freeze())
}

/// An unsigned varint (at most 5 bytes for a u32) and its length.
fn read_unsigned_varint(body: &[u8]) -> Result<(u32, usize), String> {
    let mut value: u32 = 0;
    for (i, &b) in body.iter().take(5).enumerate() {
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err("malformed or truncated varint".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_strings_are_skipped_and_fields_taken_out() {
        // "ab", then a null, then an empty string.
        let body = [3, b'a', b'b', 0, 1, 9];
        assert_eq!(skip_compact_string(&body, 0), Ok(3));
        assert_eq!(skip_compact_string(&body, 3), Ok(4));
        assert_eq!(skip_compact_string(&body, 4), Ok(5));
        assert!(skip_compact_string(&[5, b'a'], 0).is_err());
        assert!(skip_compact_string(&body, 6).is_err());
        assert!(skip_compact_string(&[0xff, 0xff, 0xff, 0xff, 0x0f], 0).is_err());
        assert_eq!(&without(&body, 1, 2).unwrap()[..], &[3, 0, 1, 9]);
        assert!(without(&body, 5, 2).is_err());
        assert!(without(&body, usize::MAX, 2).is_err());
        // After "ab" and a null id, one fixed byte (1), then two added (9, 8).
        let (added, rest) = take_after_ids(&[3, b'a', b'b', 0, 1, 9, 8, 7], 1, 2).unwrap();
        assert_eq!(
            (&added[..], &rest[..]),
            (&[9, 8][..], &[3, b'a', b'b', 0, 1, 7][..])
        );
        assert!(take_after_ids(&[3, b'a', b'b', 0, 1, 9], 1, 2).is_err());
    }

    #[test]
    fn counts_must_fit_in_the_remaining_bytes() {
        // int32 count 2, two 2-byte elements: fits.
        check_leading_array(&[0, 0, 0, 2, 0, 0, 0, 0], false, 2).unwrap();
        // int32 count 3 with 4 bytes left: a lie.
        assert!(check_leading_array(&[0, 0, 0, 3, 0, 0, 0, 0], false, 2).is_err());
        // i32::MAX with nothing after it.
        assert!(check_leading_array(&[0x7f, 0xff, 0xff, 0xff], false, 1).is_err());
        // null
        check_leading_array(&[0xff, 0xff, 0xff, 0xff], false, 2).unwrap();
        // compact: varint 3 = 2 elements.
        check_leading_array(&[3, 1, 0, 1, 0], true, 2).unwrap();
        assert!(check_leading_array(&[3, 1, 0], true, 2).is_err());
        // compact null and empty
        check_leading_array(&[0], true, 2).unwrap();
        check_leading_array(&[1], true, 2).unwrap();
        // huge varint count
        assert!(check_leading_array(&[0xff, 0xff, 0xff, 0xff, 0x07], true, 1).is_err());
        assert!(check_leading_array(&[0xff, 0xff], true, 1).is_err());
        assert!(check_leading_array(&[0, 0], false, 1).is_err());
    }
}
