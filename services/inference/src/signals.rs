//! Reading `POST /predict`'s recordings without letting the body decide how much memory is
//! used: at most `MAX_RECORDINGS + 1` recordings are kept (the rest only counted through,
//! so the handler can answer 413), and a recording longer than 178 samples is an error as
//! soon as its 179th sample is read. An 8 MiB body of `[[],[],…]` would otherwise become
//! millions of vectors before any check ran.

use std::fmt;

use eeg_data::SAMPLES_PER_RECORDING;
use serde::de::{DeserializeSeed, Error, IgnoredAny, SeqAccess, Visitor};
use serde::Deserializer;

/// The most recordings one request (`POST /predict`, an `infer` tensor) may carry.
pub const MAX_RECORDINGS: usize = 1000;

pub fn bounded_recordings<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Vec<f64>>, D::Error> {
    deserializer.deserialize_seq(Recordings)
}

struct Recordings;

impl<'de> Visitor<'de> for Recordings {
    type Value = Vec<Vec<f64>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "a list of recordings, each a list of {SAMPLES_PER_RECORDING} numbers"
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut recordings = Vec::new();
        while recordings.len() <= MAX_RECORDINGS {
            let index = recordings.len();
            match seq.next_element_seed(Recording { index })? {
                Some(recording) => recordings.push(recording),
                None => return Ok(recordings),
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(recordings)
    }
}

struct Recording {
    index: usize,
}

impl<'de> DeserializeSeed<'de> for Recording {
    type Value = Vec<f64>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Recording {
    type Value = Vec<f64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list of {SAMPLES_PER_RECORDING} numbers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut samples = Vec::with_capacity(SAMPLES_PER_RECORDING);
        while let Some(sample) = seq.next_element::<f64>()? {
            if samples.len() == SAMPLES_PER_RECORDING {
                return Err(A::Error::custom(format!(
                    "recording {} has more than {SAMPLES_PER_RECORDING} samples",
                    self.index
                )));
            }
            samples.push(sample);
        }
        Ok(samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(deserialize_with = "bounded_recordings")]
        recordings: Vec<Vec<f64>>,
    }

    #[test]
    fn at_most_one_recording_over_the_limit_is_kept() {
        let many = format!("{{\"recordings\": [{}]}}", vec!["[]"; 200_000].join(","));
        let body: Body = serde_json::from_str(&many).unwrap();
        assert_eq!(body.recordings.len(), MAX_RECORDINGS + 1);
    }

    #[test]
    fn a_recording_longer_than_178_samples_is_refused_by_index() {
        let long = vec!["1"; 500].join(",");
        let text = format!(
            "{{\"recordings\": [[{}], [{long}]]}}",
            vec!["1"; 178].join(",")
        );
        let error = serde_json::from_str::<Body>(&text)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("recording 1 has more than 178 samples"),
            "{error}"
        );
        let exact = format!("{{\"recordings\": [[{}]]}}", vec!["2.5"; 178].join(","));
        let body: Body = serde_json::from_str(&exact).unwrap();
        assert_eq!(body.recordings, vec![vec![2.5; 178]]);
    }
}
