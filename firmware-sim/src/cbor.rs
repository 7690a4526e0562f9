//! Canonical CTAP2 CBOR (CTAP 2.1 §8 "Message Encoding") on top of `ciborium::Value`.
//!
//! Decoding is strict: the input must be one well-formed item using definite lengths, the
//! shortest integer and length encodings, no tags, and map keys in CTAP2 canonical order without
//! duplicates. Encoding writes the same canonical form. Keys are ordered by major type first,
//! then by the length of their encoding, then byte-wise.

use std::cmp::Ordering;

use ciborium::value::{Integer, Value};

use crate::status::{CtapResult, StatusCode};

/// Encodes `value` canonically (maps are sorted first).
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&canonicalize(value), &mut out);
    out
}

/// Decodes one canonical CTAP2 CBOR item that spans all of `bytes`.
pub fn decode(bytes: &[u8]) -> CtapResult<Value> {
    let mut reader = bytes;
    let value: Value =
        ciborium::de::from_reader(&mut reader).map_err(|_| StatusCode::InvalidCbor)?;
    if !reader.is_empty() {
        return Err(StatusCode::InvalidCbor);
    }
    check_canonical_order(&value)?;
    // Shortest-form and definite-length rules: re-encoding without sorting must give the input.
    let mut again = Vec::with_capacity(bytes.len());
    write_value(&value, &mut again);
    if again != bytes {
        return Err(StatusCode::InvalidCbor);
    }
    Ok(value)
}

/// Decodes one canonical CTAP2 CBOR item at the start of `bytes`; returns it and how many bytes
/// it took (for items followed by others, as in authenticator data).
pub fn decode_prefix(bytes: &[u8]) -> CtapResult<(Value, usize)> {
    let mut end = 0;
    skip_item(bytes, &mut end, 16)?;
    Ok((decode(&bytes[..end])?, end))
}

/// Returns a copy of `value` whose maps are sorted in CTAP2 canonical key order.
pub fn canonicalize(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(canonicalize).collect()),
        Value::Map(entries) => {
            let mut sorted: Vec<(Vec<u8>, Value, Value)> = entries
                .iter()
                .map(|(k, v)| {
                    let k = canonicalize(k);
                    let mut kb = Vec::new();
                    write_value(&k, &mut kb);
                    (kb, k, canonicalize(v))
                })
                .collect();
            sorted.sort_by(|a, b| key_order(&a.0, &b.0));
            Value::Map(sorted.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Value::Tag(t, inner) => Value::Tag(*t, Box::new(canonicalize(inner))),
        other => other.clone(),
    }
}

/// CTAP2 canonical order of two encoded keys.
fn key_order(a: &[u8], b: &[u8]) -> Ordering {
    let major = |k: &[u8]| k.first().map(|b| b >> 5);
    major(a)
        .cmp(&major(b))
        .then(a.len().cmp(&b.len()))
        .then_with(|| a.cmp(b))
}

fn check_canonical_order(value: &Value) -> CtapResult<()> {
    match value {
        Value::Tag(..) => Err(StatusCode::InvalidCbor),
        Value::Array(items) => items.iter().try_for_each(check_canonical_order),
        Value::Map(entries) => {
            let mut previous: Option<Vec<u8>> = None;
            for (k, v) in entries {
                check_canonical_order(k)?;
                check_canonical_order(v)?;
                let mut kb = Vec::new();
                write_value(k, &mut kb);
                if let Some(prev) = &previous
                    && key_order(prev, &kb) != Ordering::Less
                {
                    // Out of order, or a duplicate key.
                    return Err(StatusCode::InvalidCbor);
                }
                previous = Some(kb);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn write_head(major: u8, arg: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg <= u64::from(u8::MAX) {
        out.push(m | 24);
        out.push(arg as u8);
    } else if arg <= u64::from(u16::MAX) {
        out.push(m | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= u64::from(u32::MAX) {
        out.push(m | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Integer(i) => {
            let n = i128::from(*i);
            if n >= 0 {
                // ciborium integers fit in 64 bits plus sign.
                write_head(0, n as u64, out);
            } else {
                write_head(1, (-1 - n) as u64, out);
            }
        }
        Value::Bytes(b) => {
            write_head(2, b.len() as u64, out);
            out.extend_from_slice(b);
        }
        Value::Text(t) => {
            write_head(3, t.len() as u64, out);
            out.extend_from_slice(t.as_bytes());
        }
        Value::Array(items) => {
            write_head(4, items.len() as u64, out);
            for item in items {
                write_value(item, out);
            }
        }
        Value::Map(entries) => {
            write_head(5, entries.len() as u64, out);
            for (k, v) in entries {
                write_value(k, out);
                write_value(v, out);
            }
        }
        Value::Tag(tag, inner) => {
            write_head(6, *tag, out);
            write_value(inner, out);
        }
        Value::Bool(false) => out.push(0xF4),
        Value::Bool(true) => out.push(0xF5),
        Value::Null => out.push(0xF6),
        Value::Float(f) => {
            out.push(0xFB);
            out.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        // `Value` is non-exhaustive; nothing else is produced by ciborium 0.2.
        _ => out.push(0xF7),
    }
}

/// Overwrites every byte and text string inside `value` with zeros (for values that held secrets).
pub fn wipe(value: &mut Value) {
    use zeroize::Zeroize;
    match value {
        Value::Bytes(b) => b.zeroize(),
        Value::Text(t) => t.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            wipe(k);
            wipe(v);
        }),
        Value::Tag(_, inner) => wipe(inner),
        _ => {}
    }
}

/// Reads one item head at `*pos`: (major type, argument). Indefinite lengths are refused.
fn read_head(bytes: &[u8], pos: &mut usize) -> CtapResult<(u8, u64)> {
    let first = *bytes.get(*pos).ok_or(StatusCode::InvalidCbor)?;
    *pos += 1;
    let len = match first & 0x1F {
        info @ 0..=23 => return Ok((first >> 5, u64::from(info))),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return Err(StatusCode::InvalidCbor),
    };
    let end = pos.checked_add(len).ok_or(StatusCode::InvalidCbor)?;
    let arg = bytes
        .get(*pos..end)
        .ok_or(StatusCode::InvalidCbor)?
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    *pos = end;
    Ok((first >> 5, arg))
}

/// Reads one item head at `*pos` when it is in canonical form: definite and in its shortest
/// encoding; `None` otherwise (or at the input's end).
pub(crate) fn read_canonical_head(bytes: &[u8], pos: &mut usize) -> Option<(u8, u64)> {
    let start = *pos;
    let (major, arg) = read_head(bytes, pos).ok()?;
    let shortest = match *pos - start {
        1 => true,
        2 => arg >= 24,
        3 => arg > u64::from(u8::MAX),
        5 => arg > u64::from(u16::MAX),
        _ => arg > u64::from(u32::MAX),
    };
    shortest.then_some((major, arg))
}

/// Reads a byte string at `*pos` in canonical form, in place; `None` for anything else.
pub(crate) fn read_canonical_bytes<'a>(bytes: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let (major, len) = read_canonical_head(bytes, pos)?;
    if major != 2 {
        return None;
    }
    let end = pos.checked_add(usize::try_from(len).ok()?)?;
    let s = bytes.get(*pos..end)?;
    *pos = end;
    Some(s)
}

/// Reads a text string at `*pos` in canonical form, in place; `None` for anything else.
pub(crate) fn read_canonical_text<'a>(bytes: &'a [u8], pos: &mut usize) -> Option<&'a str> {
    let (major, len) = read_canonical_head(bytes, pos)?;
    if major != 3 {
        return None;
    }
    let end = pos.checked_add(usize::try_from(len).ok()?)?;
    let s = std::str::from_utf8(bytes.get(*pos..end)?).ok()?;
    *pos = end;
    Some(s)
}

/// Steps over one item at `*pos` without building it (nested at most `depth` levels).
fn skip_item(bytes: &[u8], pos: &mut usize, depth: u8) -> CtapResult<()> {
    let (major, arg) = read_head(bytes, pos)?;
    match major {
        // Integers, simple values and floats are all head.
        0 | 1 | 7 => Ok(()),
        2 | 3 => {
            let len = usize::try_from(arg).map_err(|_| StatusCode::InvalidCbor)?;
            let end = pos.checked_add(len).ok_or(StatusCode::InvalidCbor)?;
            if end > bytes.len() {
                return Err(StatusCode::InvalidCbor);
            }
            *pos = end;
            Ok(())
        }
        4 | 5 => {
            let depth = depth.checked_sub(1).ok_or(StatusCode::InvalidCbor)?;
            let items = if major == 5 {
                arg.checked_mul(2)
            } else {
                Some(arg)
            };
            // Every item takes at least one byte, so a lying count fails at the input's end.
            for _ in 0..items.ok_or(StatusCode::InvalidCbor)? {
                skip_item(bytes, pos, depth)?;
            }
            Ok(())
        }
        // Tags are not CTAP2 CBOR.
        _ => Err(StatusCode::InvalidCbor),
    }
}

/// The boolean at unsigned integer key `key` of the map that spans all of `bytes` (`None` when
/// absent), found by reading item heads only: no other value is built or copied. Checks that
/// the input is one well-formed definite-length map with unsigned integer keys, but not the
/// canonical form that [`decode`] checks.
pub(crate) fn int_map_bool(bytes: &[u8], key: u64) -> CtapResult<Option<bool>> {
    let mut pos = 0;
    let (major, entries) = read_head(bytes, &mut pos)?;
    if major != 5 {
        return Err(StatusCode::InvalidCbor);
    }
    let mut found = None;
    for _ in 0..entries {
        let (major, k) = read_head(bytes, &mut pos)?;
        if major != 0 {
            return Err(StatusCode::InvalidCbor);
        }
        if k == key {
            found = match bytes.get(pos) {
                Some(0xF4) => Some(false),
                Some(0xF5) => Some(true),
                _ => return Err(StatusCode::InvalidCbor),
            };
            pos += 1;
        } else {
            skip_item(bytes, &mut pos, 16)?;
        }
    }
    if pos != bytes.len() {
        return Err(StatusCode::InvalidCbor);
    }
    Ok(found)
}

/// Builds an integer-keyed CBOR map from `(key, value)` pairs.
pub fn int_map(entries: Vec<(i64, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::Integer(Integer::from(k)), v))
            .collect(),
    )
}

/// Builds a text-keyed CBOR map from `(key, value)` pairs.
pub fn text_map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::Text(k.to_owned()), v))
            .collect(),
    )
}

/// A CBOR integer value.
pub fn int(n: i64) -> Value {
    Value::Integer(Integer::from(n))
}

/// Read access to a decoded CBOR map, with the CTAP2 error for each kind of mistake.
#[derive(Clone, Copy)]
pub(crate) struct MapView<'a> {
    entries: &'a [(Value, Value)],
}

impl<'a> MapView<'a> {
    /// Views `value` as a map, or fails with `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`.
    pub(crate) fn new(value: &'a Value) -> CtapResult<Self> {
        match value {
            Value::Map(entries) => Ok(Self { entries }),
            _ => Err(StatusCode::CborUnexpectedType),
        }
    }

    /// The value under integer key `key`, if present.
    pub(crate) fn int_key(&self, key: i64) -> Option<&'a Value> {
        self.entries.iter().find_map(|(k, v)| match k {
            Value::Integer(i) if i128::from(*i) == i128::from(key) => Some(v),
            _ => None,
        })
    }

    /// The value under text key `key`, if present.
    pub(crate) fn text_key(&self, key: &str) -> Option<&'a Value> {
        self.entries.iter().find_map(|(k, v)| match k {
            Value::Text(t) if t == key => Some(v),
            _ => None,
        })
    }

    /// Every entry, in wire order.
    pub(crate) fn entries(&self) -> &'a [(Value, Value)] {
        self.entries
    }
}

/// The value must be a byte string.
pub(crate) fn as_bytes(value: &Value) -> CtapResult<&[u8]> {
    match value {
        Value::Bytes(b) => Ok(b),
        _ => Err(StatusCode::CborUnexpectedType),
    }
}

/// The value must be a text string.
pub(crate) fn as_text(value: &Value) -> CtapResult<&str> {
    match value {
        Value::Text(t) => Ok(t),
        _ => Err(StatusCode::CborUnexpectedType),
    }
}

/// The value must be an array.
pub(crate) fn as_array(value: &Value) -> CtapResult<&[Value]> {
    match value {
        Value::Array(a) => Ok(a),
        _ => Err(StatusCode::CborUnexpectedType),
    }
}

/// The value must be a boolean.
pub(crate) fn as_bool(value: &Value) -> CtapResult<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        _ => Err(StatusCode::CborUnexpectedType),
    }
}

/// The value must be an integer.
pub(crate) fn as_int(value: &Value) -> CtapResult<i128> {
    match value {
        Value::Integer(i) => Ok(i128::from(*i)),
        _ => Err(StatusCode::CborUnexpectedType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_major_type_then_length_then_bytes() {
        let m = Value::Map(vec![
            (Value::Text("type".into()), int(1)),
            (int(-1), int(2)),
            (int(24), int(3)),
            (Value::Text("alg".into()), int(4)),
            (int(1), int(5)),
        ]);
        let bytes = encode(&m);
        // a5 01 05 18 18 03 20 02 63 'alg' 04 64 'type' 01
        assert_eq!(
            bytes,
            [
                0xA5, 0x01, 0x05, 0x18, 0x18, 0x03, 0x20, 0x02, 0x63, b'a', b'l', b'g', 0x04, 0x64,
                b't', b'y', b'p', b'e', 0x01
            ]
        );
        assert_eq!(decode(&bytes).ok(), Some(canonicalize(&m)));
    }

    #[test]
    fn integers_use_the_shortest_form() {
        for (n, expected) in [
            (0i64, vec![0x00]),
            (23, vec![0x17]),
            (24, vec![0x18, 0x18]),
            (255, vec![0x18, 0xFF]),
            (256, vec![0x19, 0x01, 0x00]),
            (-1, vec![0x20]),
            (-25, vec![0x38, 0x18]),
            (65536, vec![0x1A, 0x00, 0x01, 0x00, 0x00]),
        ] {
            assert_eq!(encode(&int(n)), expected, "{n}");
        }
    }

    #[test]
    fn rejects_non_canonical_input() {
        // Unsorted map {2: 0, 1: 0}.
        assert_eq!(
            decode(&[0xA2, 0x02, 0x00, 0x01, 0x00]),
            Err(StatusCode::InvalidCbor)
        );
        // Duplicate key {1: 0, 1: 0}.
        assert_eq!(
            decode(&[0xA2, 0x01, 0x00, 0x01, 0x00]),
            Err(StatusCode::InvalidCbor)
        );
        // 1 encoded in two bytes.
        assert_eq!(decode(&[0x18, 0x01]), Err(StatusCode::InvalidCbor));
        // Indefinite-length byte string.
        assert_eq!(
            decode(&[0x5F, 0x41, 0x00, 0xFF]),
            Err(StatusCode::InvalidCbor)
        );
        // Indefinite-length map.
        assert_eq!(
            decode(&[0xBF, 0x01, 0x00, 0xFF]),
            Err(StatusCode::InvalidCbor)
        );
        // A tag.
        assert_eq!(decode(&[0xC1, 0x00]), Err(StatusCode::InvalidCbor));
        // Trailing bytes.
        assert_eq!(decode(&[0x00, 0x00]), Err(StatusCode::InvalidCbor));
        // Truncated.
        assert_eq!(decode(&[0x42, 0x00]), Err(StatusCode::InvalidCbor));
        // Invalid UTF-8 text.
        assert_eq!(decode(&[0x61, 0xFF]), Err(StatusCode::InvalidCbor));
        // Empty input.
        assert_eq!(decode(&[]), Err(StatusCode::InvalidCbor));
    }

    #[test]
    fn accepts_canonical_nested_input() {
        let v = int_map(vec![
            (1, Value::Bytes(vec![1, 2, 3])),
            (2, text_map(vec![("id", Value::Text("example.com".into()))])),
            (
                4,
                Value::Array(vec![int(-7), Value::Bool(true), Value::Null]),
            ),
        ]);
        let bytes = encode(&v);
        assert_eq!(decode(&bytes), Ok(v));
    }

    #[test]
    fn canonical_heads_and_strings_are_read_in_place() {
        for n in [
            0u64,
            23,
            24,
            255,
            256,
            65535,
            65536,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let bytes = encode(&Value::Integer(n.into()));
            let mut pos = 0;
            assert_eq!(read_canonical_head(&bytes, &mut pos), Some((0, n)));
            assert_eq!(pos, bytes.len());
        }
        // Longer than needed, indefinite, reserved, truncated.
        for bad in [
            &[0x18, 0x17][..],
            &[0x19, 0x00, 0xFF],
            &[0x1A, 0x00, 0x00, 0xFF, 0xFF],
            &[0x1B, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF],
            &[0x5F],
            &[0x1C],
            &[0x19, 0x01],
            &[],
        ] {
            assert_eq!(read_canonical_head(bad, &mut 0), None, "{bad:02X?}");
        }
        let text = encode(&Value::Text("é".repeat(20)));
        assert_eq!(read_canonical_bytes(&text, &mut 0), None);
        let bytes = encode(&Value::Bytes(vec![0xFF; 300]));
        let mut pos = 0;
        assert_eq!(
            read_canonical_bytes(&bytes, &mut pos),
            Some(&[0xFF; 300][..])
        );
        assert_eq!(pos, bytes.len());
        assert_eq!(read_canonical_bytes(&bytes[..299], &mut 0), None);
        assert_eq!(read_canonical_bytes(&[0x58, 0x01, 0x00], &mut 0), None);
        let mut pos = 0;
        assert_eq!(
            read_canonical_text(&text, &mut pos),
            Some("é".repeat(20).as_str())
        );
        assert_eq!(pos, text.len());
        assert_eq!(read_canonical_text(&text[..10], &mut 0), None);
        assert_eq!(read_canonical_text(&[0x61, 0xFF], &mut 0), None);
        assert_eq!(read_canonical_text(&[0x41, 0x61], &mut 0), None);
        assert_eq!(read_canonical_text(&[0x78, 0x01, 0x61], &mut 0), None);
    }

    #[test]
    fn map_view_reports_ctap_errors() {
        let v = int_map(vec![
            (1, Value::Bytes(vec![0; 32])),
            (2, Value::Text("x".into())),
        ]);
        let view = MapView::new(&v).unwrap();
        assert!(view.int_key(1).is_some());
        assert!(view.int_key(3).is_none());
        assert_eq!(
            as_bytes(view.int_key(2).unwrap()),
            Err(StatusCode::CborUnexpectedType)
        );
        assert!(matches!(
            MapView::new(&int(3)),
            Err(StatusCode::CborUnexpectedType)
        ));
    }
}
