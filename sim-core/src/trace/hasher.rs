//! Feeds a serializable value straight into a [`TraceHash`], without formatting it.
//!
//! The trace hash must cover every protocol event, but formatting each one as JSON only to hash
//! the bytes was a tenth of a run's time when no trace file is written. This serializer visits
//! the same value and hashes its structure: every field name, variant name, string, number and
//! sequence length, each marked with its kind, so two different events cannot feed the hash
//! the same words by accident (one whose optional field is absent and one whose next field is
//! present differ by the field names). It never fails and never allocates.

use serde::ser::{self, Serialize};
use std::fmt;

use super::TraceHash;

/// What kind of datum the next word is.
#[repr(u64)]
enum Tag {
    Bool = 1,
    Int = 2,
    Float = 3,
    Str = 4,
    Bytes = 5,
    None = 6,
    Some = 7,
    Unit = 8,
    Variant = 9,
    Seq = 10,
    Map = 11,
    Field = 12,
    End = 13,
}

/// Hashes `value`'s structure into `hash`.
pub(crate) fn hash_value<T: Serialize + ?Sized>(hash: &mut TraceHash, value: &T) {
    match value.serialize(&mut Hasher(hash)) {
        Ok(()) => {}
        Err(never) => match never {},
    }
}

struct Hasher<'a>(&'a mut TraceHash);

impl Hasher<'_> {
    fn tag(&mut self, tag: Tag) {
        self.0.word((tag as u64) << 56);
    }
    fn str(&mut self, tag: Tag, s: &str) {
        self.tag(tag);
        self.0.bytes(s.as_bytes());
    }
}

/// The serializer cannot fail; serde still asks for an error type.
#[derive(Debug)]
pub enum Never {}

impl fmt::Display for Never {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        // Only a hand-written Serialize can raise an error, and no trace type has one.
        panic!("a trace event failed to serialize: {msg}")
    }
}

impl<'a, 'h> ser::Serializer for &'a mut Hasher<'h> {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Result<(), Never> {
        self.0.word(((Tag::Bool as u64) << 56) | u64::from(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Never> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<(), Never> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<(), Never> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<(), Never> {
        self.tag(Tag::Int);
        self.0.word(v as u64);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Never> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<(), Never> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<(), Never> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<(), Never> {
        self.tag(Tag::Int);
        self.0.word(v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Never> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Never> {
        self.tag(Tag::Float);
        self.0.word(v.to_bits());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Never> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_str(self, v: &str) -> Result<(), Never> {
        self.str(Tag::Str, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Never> {
        self.tag(Tag::Bytes);
        self.0.bytes(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Never> {
        self.tag(Tag::None);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Never> {
        self.tag(Tag::Some);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Never> {
        self.tag(Tag::Unit);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Never> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Never> {
        self.str(Tag::Variant, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.str(Tag::Variant, variant);
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, Never> {
        self.tag(Tag::Seq);
        // Sequences of unknown length are closed by `end`.
        self.0.word(len.map_or(u64::MAX, |n| n as u64));
        Ok(self)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self, Never> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Self, Never> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, Never> {
        self.str(Tag::Variant, variant);
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self, Never> {
        self.tag(Tag::Map);
        Ok(self)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, Never> {
        self.tag(Tag::Map);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, Never> {
        self.str(Tag::Variant, variant);
        self.tag(Tag::Map);
        Ok(self)
    }
}

/// Sequences and tuples: each element in turn, then an end mark.
macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for &mut Hasher<'_> {
            type Ok = ();
            type Error = Never;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Never> {
                self.tag(Tag::End);
                Ok(())
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// Structs: each field's name and value in turn, then an end mark.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for &mut Hasher<'_> {
            type Ok = ();
            type Error = Never;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Never> {
                self.str(Tag::Field, key);
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Never> {
                self.tag(Tag::End);
                Ok(())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for &mut Hasher<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Never> {
        self.tag(Tag::Field);
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Never> {
        self.tag(Tag::End);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Clone, Copy, Serialize)]
    struct Event<'a> {
        node: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        leader: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<u32>,
        name: &'a str,
    }

    fn hash_of<T: Serialize>(v: &T) -> u64 {
        let mut h = TraceHash::default();
        hash_value(&mut h, v);
        h.value()
    }

    #[test]
    fn equal_values_hash_equal_and_every_difference_shows() {
        let base = Event {
            node: 1,
            leader: Some(2),
            epoch: None,
            name: "a",
        };
        assert_eq!(hash_of(&base), hash_of(&base));
        let variants = [
            Event { node: 2, ..base },
            Event {
                leader: None,
                epoch: Some(2),
                ..base
            },
            Event {
                leader: None,
                ..base
            },
            Event { name: "b", ..base },
        ];
        for v in &variants {
            assert_ne!(hash_of(&base), hash_of(v));
        }
        // A sequence is not its elements run together.
        assert_ne!(
            hash_of(&(vec![1u32, 2], vec![3u32])),
            hash_of(&(vec![1u32], vec![2u32, 3]))
        );
    }
}
