//! Reading an inference request's tensors without letting the body decide how much memory is
//! used (as `crate::signals` does for `POST /predict`): `data` is flattened straight into
//! numbers while it is read, never more than one request's worth ([`MAX_VALUES`]), and a
//! second input is an error as soon as it starts. An 8 MiB body of `[0,0,…]` would otherwise
//! become millions of JSON values before any check ran.

use std::fmt;

use eeg_data::SAMPLES_PER_RECORDING;
use serde::de::{DeserializeSeed, Error, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::signals::MAX_RECORDINGS;

/// The most numbers one input may carry: 1,000 recordings of 178 samples.
pub const MAX_VALUES: usize = MAX_RECORDINGS * SAMPLES_PER_RECORDING;

/// `inputs`, refused as soon as a second one starts.
pub fn one_input<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct One<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for One<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a list with exactly one input tensor")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut inputs = Vec::with_capacity(1);
            if let Some(first) = seq.next_element()? {
                inputs.push(first);
            }
            if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                return Err(A::Error::custom(
                    "more than one input; the model's one input is \"recordings\"",
                ));
            }
            Ok(inputs)
        }
    }

    deserializer.deserialize_seq(One(std::marker::PhantomData))
}

/// `data`: numbers, flat or nested in lists, row-major, at most [`MAX_VALUES`] of them.
pub fn bounded_data<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
    let mut values = Vec::new();
    Flat(&mut values).deserialize(deserializer)?;
    Ok(values)
}

/// Appends the numbers of one value (a number or a nested list) to the vector.
struct Flat<'a>(&'a mut Vec<f64>);

impl Flat<'_> {
    fn push<E: Error>(self, value: f64) -> Result<(), E> {
        if self.0.len() == MAX_VALUES {
            return Err(E::custom(format!(
                "more than {MAX_VALUES} values (at most {MAX_RECORDINGS} recordings of \
                 {SAMPLES_PER_RECORDING} samples)"
            )));
        }
        self.0.push(value);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Flat<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flat<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a number (or a list of numbers, nested or flat)")
    }

    fn visit_f64<E: Error>(self, value: f64) -> Result<(), E> {
        self.push(value)
    }

    fn visit_i64<E: Error>(self, value: i64) -> Result<(), E> {
        self.push(value as f64)
    }

    fn visit_u64<E: Error>(self, value: u64) -> Result<(), E> {
        self.push(value as f64)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Flat(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Tensor {
        #[serde(deserialize_with = "bounded_data")]
        data: Vec<f64>,
    }

    fn read(data: &str) -> Result<Vec<f64>, String> {
        serde_json::from_str::<Tensor>(&format!("{{\"data\": {data}}}"))
            .map(|t| t.data)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn flat_or_nested_numbers_are_read_row_major() {
        assert_eq!(read("[1, 2, 3, 4]").unwrap(), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(read("[[1, 2], [3, 4.5]]").unwrap(), [1.0, 2.0, 3.0, 4.5]);
        assert_eq!(read("[[[-1]], -0.0, 1e300]").unwrap(), [-1.0, -0.0, 1e300]);
        for bad in ["[1, \"2\"]", "[1, null]", "[{\"a\": 1}]", "[true]"] {
            let error = read(bad).unwrap_err();
            assert!(error.contains("expected a number"), "{bad}: {error}");
        }
    }

    #[test]
    fn no_more_than_one_requests_worth_of_values_is_kept() {
        let exact = format!("[{}]", vec!["0"; MAX_VALUES].join(","));
        assert_eq!(read(&exact).unwrap().len(), MAX_VALUES);
        // An 8 MiB body's worth of zeros stops at the limit, whatever the nesting.
        let many = format!("[[{}]]", vec!["0"; 4_000_000].join(","));
        let error = read(&many).unwrap_err();
        assert!(
            error.contains(&format!("more than {MAX_VALUES} values")),
            "{error}"
        );
    }

    #[test]
    fn a_second_input_is_refused() {
        #[derive(Deserialize)]
        struct Request {
            #[serde(deserialize_with = "one_input")]
            inputs: Vec<u8>,
        }
        let one: Request = serde_json::from_str("{\"inputs\": [7]}").unwrap();
        assert_eq!(one.inputs, [7]);
        let none: Request = serde_json::from_str("{\"inputs\": []}").unwrap();
        assert!(none.inputs.is_empty());
        let error = serde_json::from_str::<Request>("{\"inputs\": [7, 8]}")
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("more than one input"), "{error}");
    }
}
