//! The mapped fields of one JSON-lines record, read without building the whole object:
//! the other fields are skipped and a string without escapes is borrowed from the line.
//! A record this cannot read goes through `serde_json::Value`, so that what is refused,
//! and in what words, is what the general parser says.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A field's value, as far as a mapped column needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Absent or `null`.
    Null,
    Str(Cow<'a, str>),
    Num(serde_json::Number),
    Bool(bool),
    /// An array or an object: never a column's value.
    Nested,
}

/// The values of `keys` in the object on `line`, in the order of `keys`; a key that
/// appears twice keeps its last value, as `serde_json::Value` does.
pub fn fields<'a, K: AsRef<str>>(line: &'a str, keys: &[K]) -> Result<Vec<Value<'a>>, String> {
    let mut de = serde_json::Deserializer::from_str(line);
    let record = Record { keys };
    match record.deserialize(&mut de).and_then(|v| de.end().map(|()| v)) {
        Ok(values) => Ok(values),
        Err(_) => match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(map)) => Ok(keys.iter().map(|k| owned(map.get(k.as_ref()))).collect()),
            Ok(_) => Err("the line is not a JSON object".into()),
            Err(e) => Err(e.to_string()),
        },
    }
}

/// How a value that is not a column's type reads in the quarantine: its JSON text.
pub fn display(line: &str, key: &str, value: &Value<'_>) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Str(s) => serde_json::Value::String(s.to_string()).to_string(),
        Value::Num(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Nested => match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(map)) => map.get(key).map(ToString::to_string).unwrap_or_default(),
            _ => String::new(),
        },
    }
}

fn owned(v: Option<&serde_json::Value>) -> Value<'static> {
    match v {
        None | Some(serde_json::Value::Null) => Value::Null,
        Some(serde_json::Value::String(s)) => Value::Str(Cow::Owned(s.clone())),
        Some(serde_json::Value::Number(n)) => Value::Num(n.clone()),
        Some(serde_json::Value::Bool(b)) => Value::Bool(*b),
        Some(_) => Value::Nested,
    }
}

/// The object of a line, keeping only `keys`.
struct Record<'k, K> {
    keys: &'k [K],
}

impl<'de, K: AsRef<str>> DeserializeSeed<'de> for Record<'_, K> {
    type Value = Vec<Value<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, K: AsRef<str>> Visitor<'de> for Record<'_, K> {
    type Value = Vec<Value<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = vec![Value::Null; self.keys.len()];
        while let Some(key) = map.next_key_seed(Text)? {
            match self.keys.iter().position(|k| k.as_ref() == key) {
                Some(i) => values[i] = map.next_value_seed(Any)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(values)
    }
}

/// A string, borrowed from the line when it has no escapes.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

/// Any value.
struct Any;

impl<'de> DeserializeSeed<'de> for Any {
    type Value = Value<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Any {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Value::Num(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Value::Num(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Nested, Value::Num))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(v.to_string())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Nested)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Nested)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_mapped_fields_are_kept() {
        let line = r#"{"a": "x", "skip": [1, {"b": 2}], "b": 2.5, "c": true, "a": "y\"z", "e": null}"#;
        let got = fields(line, &["a", "b", "c", "d", "e"]).unwrap();
        assert_eq!(got[0], Value::Str(Cow::Owned("y\"z".into())));
        assert_eq!(got[1], Value::Num(serde_json::Number::from_f64(2.5).unwrap()));
        assert_eq!(got[2], Value::Bool(true));
        assert_eq!(got[3], Value::Null);
        assert_eq!(got[4], Value::Null);
        assert!(matches!(&fields(r#"{"a": "plain"}"#, &["a"]).unwrap()[0], Value::Str(Cow::Borrowed("plain"))));
    }

    #[test]
    fn what_is_not_one_object_is_refused_in_the_general_parser_s_words() {
        assert_eq!(fields("[1, 2]", &["a"]).unwrap_err(), "the line is not a JSON object");
        let general = serde_json::from_str::<serde_json::Value>(r#"{"a": 1"#).unwrap_err().to_string();
        assert_eq!(fields(r#"{"a": 1"#, &["a"]).unwrap_err(), general);
        assert!(fields(r#"{"a": 1} trailing"#, &["a"]).is_err());
        let nested = r#"{"a": {"deep": [1]}}"#;
        let got = fields(nested, &["a"]).unwrap();
        assert_eq!(display(nested, "a", &got[0]), r#"{"deep":[1]}"#);
    }
}
