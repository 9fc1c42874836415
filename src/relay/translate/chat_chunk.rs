//! What a chat completions chunk carries for a translator, read without building a JSON value:
//! strings are borrowed from the chunk where they hold no escapes, and a field of the wrong type
//! reads as absent (as `Value::as_str` would) instead of failing the chunk.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
pub struct Chunk<'a> {
    #[serde(default, borrow)]
    pub id: Text<'a>,
    #[serde(default, borrow)]
    pub choices: Option<Vec<Choice<'a>>>,
    /// An upstream's error, sent in place of a chunk (rare: read as a value).
    #[serde(default)]
    pub error: Option<Value>,
}

impl<'a> Chunk<'a> {
    /// A chunk's data, or `None` when it is no chunk.
    pub fn read(data: &'a str) -> Option<Chunk<'a>> {
        serde_json::from_str(data).ok()
    }

    /// The first choice, which is all a translator streams.
    pub fn first_choice(&mut self) -> Option<Choice<'a>> {
        let choices = self.choices.as_mut()?;
        if choices.is_empty() {
            return None;
        }
        Some(choices.swap_remove(0))
    }
}

#[derive(Deserialize)]
pub struct Choice<'a> {
    #[serde(default, borrow)]
    pub delta: Option<Delta<'a>>,
    #[serde(default, borrow)]
    pub finish_reason: Text<'a>,
}

#[derive(Deserialize, Default)]
pub struct Delta<'a> {
    #[serde(default, borrow)]
    pub content: Text<'a>,
    #[serde(default, borrow)]
    pub reasoning_content: Text<'a>,
    #[serde(default, borrow)]
    pub reasoning: Text<'a>,
    #[serde(default, borrow)]
    pub tool_calls: Option<Vec<CallDelta<'a>>>,
}

impl<'a> Delta<'a> {
    /// The reasoning text of this delta, under either name upstreams use, when not empty.
    pub fn thinking(&mut self) -> Option<Cow<'a, str>> {
        self.reasoning_content
            .0
            .take()
            .or_else(|| self.reasoning.0.take())
            .filter(|t| !t.is_empty())
    }
}

#[derive(Deserialize)]
pub struct CallDelta<'a> {
    #[serde(default)]
    pub index: Index,
    #[serde(default, borrow)]
    pub id: Text<'a>,
    #[serde(default, borrow)]
    pub function: Option<FunctionDelta<'a>>,
}

#[derive(Deserialize, Default)]
pub struct FunctionDelta<'a> {
    #[serde(default, borrow)]
    pub name: Text<'a>,
    #[serde(default, borrow)]
    pub arguments: Text<'a>,
}

/// A string field: anything but a string reads as absent.
#[derive(Default)]
pub struct Text<'a>(pub Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The text, when there is some.
    pub fn non_empty(self) -> Option<Cow<'a, str>> {
        self.0.filter(|t| !t.is_empty())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Lenient::<Text<'a>>(PhantomData))
    }
}

/// A tool call's `index`: anything but a non-negative integer reads as 0.
#[derive(Default, Clone, Copy)]
pub struct Index(pub u64);

impl<'de> Deserialize<'de> for Index {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Lenient::<Index>(PhantomData))
    }
}

/// Reads any JSON value, keeping what `T` takes from it and skipping the rest.
struct Lenient<T>(PhantomData<T>);

/// What a lenient field makes of a string or an unsigned integer (anything else is its default).
trait FromScalar<'de>: Default {
    fn from_text(_s: Cow<'de, str>) -> Self {
        Self::default()
    }
    fn from_u64(_n: u64) -> Self {
        Self::default()
    }
}

impl<'de: 'a, 'a> FromScalar<'de> for Text<'a> {
    fn from_text(s: Cow<'de, str>) -> Self {
        Text(Some(s))
    }
}

impl FromScalar<'_> for Index {
    fn from_u64(n: u64) -> Self {
        Index(n)
    }
}

impl<'de, T: FromScalar<'de>> Visitor<'de> for Lenient<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<T, E> {
        Ok(T::from_text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<T, E> {
        Ok(T::from_text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<T, E> {
        Ok(T::from_text(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<T, E> {
        Ok(T::from_u64(v))
    }
    fn visit_i64<E>(self, _v: i64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_f64<E>(self, _v: f64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_bool<E>(self, _v: bool) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_none<E>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(T::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(T::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_borrowed_unless_escaped_and_other_types_read_as_absent() {
        let mut chunk = Chunk::read(
            r#"{"id":"c1","choices":[{"delta":{"content":"a\"b","reasoning":"plain","tool_calls":[
                {"index":2,"id":7,"function":{"name":["x"],"arguments":{"a":1}}},{"index":-1},{"index":1.5}]},
                "finish_reason":null}]}"#,
        )
        .unwrap();
        assert!(matches!(chunk.id.0, Some(Cow::Borrowed("c1"))));
        let choice = chunk.first_choice().unwrap();
        assert!(choice.finish_reason.0.is_none());
        let mut delta = choice.delta.unwrap();
        assert!(matches!(delta.content.0.as_ref(), Some(Cow::Owned(s)) if s == "a\"b"));
        assert_eq!(delta.thinking().as_deref(), Some("plain"));
        let calls = delta.tool_calls.unwrap();
        let indexes: Vec<u64> = calls.iter().map(|c| c.index.0).collect();
        assert_eq!(indexes, [2, 0, 0]);
        assert!(calls[0].id.0.is_none());
        let function = calls[0].function.as_ref().unwrap();
        assert!(function.name.0.is_none() && function.arguments.0.is_none());
    }

    #[test]
    fn an_error_or_no_choice_is_read_as_such() {
        let mut chunk = Chunk::read(r#"{"error":{"message":"m"}}"#).unwrap();
        assert!(chunk.error.is_some());
        assert!(chunk.first_choice().is_none());
        let mut chunk = Chunk::read(r#"{"id":"c","choices":[],"usage":{}}"#).unwrap();
        assert!(chunk.first_choice().is_none());
        assert!(Chunk::read("[DONE]").is_none());
    }
}
