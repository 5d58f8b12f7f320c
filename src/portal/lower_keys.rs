//! Reading JSON with every object key lower-cased as it is read
//! ([`LowerKeys`]), so that `firstName`, `FirstName` and `firstname` all
//! land in the model's `firstname` without a lower-cased copy of the answer.
//!
//! A serde adapter: it passes every value through untouched, and only the
//! keys of maps (JSON objects), at any depth, are lower-cased (ASCII letters,
//! as the portal's binders compare) before the model sees them. Enums are
//! passed through as they are: the portal model has none that hold objects.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The largest buffer a thread keeps for lower-casing keys; one a longer key
/// grew is let go.
const LONGEST_KEPT: usize = 256;

/// A deserializer whose maps' keys come lower-cased.
pub struct LowerKeys<D>(pub D);

/// A visitor whose maps' keys (and their values' keys) come lower-cased.
struct Wrap<V>(V);

/// A map whose keys come lower-cased.
struct Map<A>(A);

/// A sequence whose elements' keys come lower-cased.
struct Seq<A>(A);

/// A seed for a value, whose keys come lower-cased.
struct Value<S>(S);

/// A seed for a key, which is lower-cased.
struct Key<S>(S);

macro_rules! forward_deserialize {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                self.0.$method(Wrap(visitor))
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for LowerKeys<D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Wrap(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Wrap(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Wrap(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Wrap(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, Wrap(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($type:ty)),* $(,)?) => {
        $(
            fn $method<E: de::Error>(self, value: $type) -> Result<V::Value, E> {
                self.0.$method(value)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.expecting(formatter)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(LowerKeys(deserializer))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(LowerKeys(deserializer))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Seq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Map(map))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(data)
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Value(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Key(seed))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.0.next_value_seed(Value(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Value<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(LowerKeys(deserializer))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Key<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        deserializer.deserialize_str(Key(self.0))
    }
}

/// The key as text, lower-cased, handed to the model's own key seed.
impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for Key<S> {
    type Value = S::Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<S::Value, E> {
        let as_str = |key: &str| {
            self.0
                .deserialize(de::value::StrDeserializer::<E>::new(key))
        };
        if !key.bytes().any(|byte| byte.is_ascii_uppercase()) {
            return as_str(key);
        }
        // Lower-cased in a buffer each thread keeps: `str::make_ascii_lowercase`
        // keeps UTF-8 whole, so the copy needs no check. A key seed that read
        // a nested key (none of the model's does) gets a buffer of its own.
        LOWERED.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut lowered) => {
                lowered.clear();
                lowered.push_str(key);
                lowered.make_ascii_lowercase();
                let value = as_str(&lowered);
                if lowered.capacity() > LONGEST_KEPT {
                    *lowered = String::new();
                }
                value
            }
            Err(_) => as_str(&key.to_ascii_lowercase()),
        })
    }
}

thread_local! {
    /// Where a key is lower-cased, kept from key to key.
    static LOWERED: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default)]
    struct Inner {
        thename: Option<String>,
    }

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default)]
    struct Outer {
        firstname: Option<String>,
        nested: Option<Inner>,
        items: Vec<Inner>,
        values: Vec<i64>,
    }

    fn read(json: &str) -> Result<Outer, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let outer = Outer::deserialize(LowerKeys(&mut deserializer))?;
        deserializer.end()?;
        Ok(outer)
    }

    #[test]
    fn keys_at_every_depth_are_lowered_and_values_are_not() {
        let outer = read(
            r#"{"FirstName":"Mike","NESTED":{"theName":"In"},"Items":[{"TheName":"A"},{"thename":"B"}],"Values":[1,2]}"#,
        )
        .expect("read");
        assert_eq!(outer.firstname.as_deref(), Some("Mike"));
        assert_eq!(
            outer.nested.and_then(|inner| inner.thename).as_deref(),
            Some("In")
        );
        let names: Vec<_> = outer.items.iter().map(|i| i.thename.as_deref()).collect();
        assert_eq!(names, [Some("A"), Some("B")]);
        assert_eq!(outer.values, [1, 2]);
    }

    #[test]
    fn escaped_long_and_repeated_keys() {
        let escaped = read(r#"{"First\u004eame":"Mike"}"#).expect("read");
        assert_eq!(escaped.firstname.as_deref(), Some("Mike"));
        let long = format!(
            r#"{{"{}":1,"FirstName":"Mike"}}"#,
            "X".repeat(LONGEST_KEPT + 1)
        );
        assert_eq!(
            read(&long).expect("read").firstname.as_deref(),
            Some("Mike")
        );
        // Two spellings of one key are one key said twice.
        assert!(read(r#"{"firstName":"A","FirstName":"B"}"#).is_err());
        assert!(read(r#"{"firstName":"A"} x"#).is_err());
    }
}
