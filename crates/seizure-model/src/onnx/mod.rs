//! The served network as an ONNX model, for the ecosystem's runtimes (onnxruntime, MLflow's
//! `onnx` flavour, Triton's ONNX backend). burn imports ONNX but cannot export it, so the
//! graph is written here from the [`Predictor`]'s weights, with standard operators only
//! (opset 17):
//!
//! ```text
//! recordings [N, 178] -> Slice (samples the layout reads) -> centring (ReduceMean per window,
//! or the global mean) -> Mul 1/std -> front end (Reshape + Transpose to [T, N, F], or
//! Conv + Relu + Transpose) -> LSTM -> Squeeze -> LSTM (last state) -> Squeeze -> Gemm -> Tanh
//! -> Gemm -> Mul 1/temperature -> Softmax -> Gather class 1 -> probability [N]
//! ```
//!
//! The input is what `/predict` and the Open Inference Protocol take (raw recordings, FP32);
//! the output the same seizure probability. The graph does not validate its input: our services
//! refuse non-finite samples and samples beyond the card's bound (recorded in the metadata as
//! `max_abs_sample`) before scoring; a bare runtime does not, so callers outside the services
//! must check for themselves. Our fused gates are ordered input, forget, output,
//! candidate; ONNX's `LSTM` wants input, output, forget, candidate, with `[4H, in]` matrices
//! and separate input and recurrent biases: [`lstm_weights`] rearranges them. The decision
//! threshold and the model card travel in the model's metadata. A test checks the exported
//! model against onnxruntime to 1e-5 on real recordings.

pub mod proto;

use eeg_data::layout::Centring;
use eeg_data::SAMPLES_PER_RECORDING;
use prost::Message;

use crate::predictor::{Cell, Conv, Matrix, Predictor};
use proto::{
    attribute_type, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto,
    TypeProto, ValueInfoProto,
};

/// The file name of the exported model in an MLflow model directory.
pub const ONNX_FILE: &str = "model.onnx";
/// The graph's input: raw recordings, FP32 `[batch, 178]`.
pub const INPUT: &str = "recordings";
/// The graph's output: the seizure probability of each recording, FP32 `[batch]`.
pub const OUTPUT: &str = "probability";
/// The ONNX operator set the graph uses.
pub const OPSET: i64 = 17;
/// The ONNX IR version written (the one that came with opset 17).
pub const IR_VERSION: i64 = 8;

/// The network behind `predictor` as a serialised ONNX `ModelProto`.
pub fn export(predictor: &Predictor) -> Vec<u8> {
    model(predictor).encode_to_vec()
}

/// The ONNX model of `predictor`, before serialisation.
pub fn model(predictor: &Predictor) -> ModelProto {
    let card = predictor.card();
    let mut metadata = vec![entry(
        "model_card",
        &serde_json::to_string(card).expect("a model card serialises"),
    )];
    if card.decision_threshold.is_some() || card.decisions.is_some() {
        // The window threshold served (the out-of-fold one when chosen), and the patient call.
        let (threshold, _) = card.threshold();
        metadata.push(entry("decision_threshold", &threshold.to_string()));
        let call = card.patient_call(threshold);
        metadata.push(entry("patient_rule", call.rule.as_str()));
        metadata.push(entry("patient_threshold", &call.threshold.to_string()));
        metadata.push(entry("decision_basis", card.decision_basis()));
    }
    // What our services check before scoring and a bare runtime does not: finite samples
    // within this bound (a runtime scores NaN or 1e39 into NaN or a confident answer).
    metadata.push(entry(
        "max_abs_sample",
        &card.input.max_abs_sample.to_string(),
    ));
    ModelProto {
        ir_version: IR_VERSION,
        producer_name: "seizure-ops".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        domain: "seizure-ops".into(),
        model_version: 1,
        doc_string: format!(
            "{}: seizure probability of raw single-channel EEG recordings of {} samples \
             (173.61 Hz)",
            card.name, SAMPLES_PER_RECORDING
        ),
        graph: Some(graph(predictor)),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        metadata_props: metadata,
    }
}

fn entry(key: &str, value: &str) -> StringStringEntryProto {
    StringStringEntryProto {
        key: key.into(),
        value: value.into(),
    }
}

/// Nodes and their constant inputs, named in order.
#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Builder {
    fn floats(&mut self, name: &str, dims: &[usize], data: Vec<f32>) -> String {
        assert_eq!(dims.iter().product::<usize>(), data.len(), "{name}");
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: proto::FLOAT,
            float_data: data,
            name: name.into(),
            ..Default::default()
        });
        name.into()
    }

    /// A 1-D int64 constant.
    fn int64s(&mut self, name: &str, data: &[i64]) -> String {
        self.int64_tensor(name, vec![data.len() as i64], data.to_vec())
    }

    /// A rank-0 int64 constant (a scalar index).
    fn int64_scalar(&mut self, name: &str, value: i64) -> String {
        self.int64_tensor(name, Vec::new(), vec![value])
    }

    fn int64_tensor(&mut self, name: &str, dims: Vec<i64>, data: Vec<i64>) -> String {
        self.initializers.push(TensorProto {
            dims,
            data_type: proto::INT64,
            int64_data: data,
            name: name.into(),
            ..Default::default()
        });
        name.into()
    }

    /// Adds a node with one output named `output`; returns that name.
    fn node(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        output: &str,
        attributes: Vec<AttributeProto>,
    ) -> String {
        self.node_outputs(op_type, inputs, &[output], attributes);
        output.into()
    }

    fn node_outputs(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        outputs: &[&str],
        attributes: Vec<AttributeProto>,
    ) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: format!("{}_{}", op_type.to_lowercase(), self.nodes.len()),
            op_type: op_type.into(),
            attribute: attributes,
        });
    }

    /// An ONNX `LSTM` over a time-major sequence `[T, N, in]` (one direction).
    /// Returns the output wanted: every hidden state `[T, N, H]` or the last `[N, H]`.
    fn lstm(&mut self, name: &str, sequence: &str, cell: &Cell, keep_sequence: bool) -> String {
        let (w, r, b) = lstm_weights(cell);
        let input = cell.input.rows;
        let h = cell.hidden;
        let w = self.floats(&format!("{name}_W"), &[1, 4 * h, input], w);
        let r = self.floats(&format!("{name}_R"), &[1, 4 * h, h], r);
        let b = self.floats(&format!("{name}_B"), &[1, 8 * h], b);
        let hidden = vec![int("hidden_size", h as i64)];
        if keep_sequence {
            // Y: [T, directions = 1, N, H].
            let y = self.node(
                "LSTM",
                &[sequence, &w, &r, &b],
                &format!("{name}_Y"),
                hidden,
            );
            let axes = self.int64s(&format!("{name}_squeeze_axes"), &[1]);
            self.node("Squeeze", &[&y, &axes], &format!("{name}_sequence"), vec![])
        } else {
            // Y_h: [directions = 1, N, H].
            let y_h = format!("{name}_Y_h");
            self.node_outputs("LSTM", &[sequence, &w, &r, &b], &["", &y_h], hidden);
            let axes = self.int64s(&format!("{name}_squeeze_axes"), &[0]);
            self.node("Squeeze", &[&y_h, &axes], &format!("{name}_last"), vec![])
        }
    }

    /// `a · weights + bias` for `a` `[N, rows]`.
    fn gemm(&mut self, name: &str, a: &str, weights: &Matrix, bias: &[f32]) -> String {
        let b = self.floats(
            &format!("{name}_weight"),
            &[weights.rows, weights.cols],
            weights.data.clone(),
        );
        let c = self.floats(&format!("{name}_bias"), &[bias.len()], bias.to_vec());
        self.node("Gemm", &[a, &b, &c], &format!("{name}_out"), vec![])
    }

    /// The convolutional front end on normalised windows `[N, samples]`: `[steps, N, C]`.
    fn conv(&mut self, windows: &str, samples: usize, conv: &Conv) -> String {
        let (kernel, channels) = (conv.weights.rows, conv.weights.cols);
        let shape = self.int64s("conv_input_shape", &[-1, 1, samples as i64]);
        let signal = self.node("Reshape", &[windows, &shape], "conv_input", vec![]);
        // Ours is [kernel, channels], applied to frames from the left; ONNX's is [C, 1, K].
        let weights = (0..channels)
            .flat_map(|c| (0..kernel).map(move |k| conv.weights.data[k * channels + c]))
            .collect();
        let w = self.floats("conv_W", &[channels, 1, kernel], weights);
        let b = self.floats("conv_B", &[channels], conv.bias.clone());
        let filtered = self.node(
            "Conv",
            &[&signal, &w, &b],
            "conv_out",
            vec![
                ints("kernel_shape", &[kernel as i64]),
                ints("strides", &[conv.stride as i64]),
            ],
        );
        let rectified = self.node("Relu", &[&filtered], "conv_relu", vec![]);
        // [N, C, steps] -> [steps, N, C].
        self.node(
            "Transpose",
            &[&rectified],
            "sequence",
            vec![ints("perm", &[2, 0, 1])],
        )
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: value,
        r#type: attribute_type::INT,
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: values.to_vec(),
        r#type: attribute_type::INTS,
        ..Default::default()
    }
}

/// ONNX's `W` `[1, 4H, in]`, `R` `[1, 4H, H]` and `B` `[1, 8H]` from a fused cell whose
/// `[in, 4H]` / `[H, 4H]` matrices are multiplied from the left, gates i, f, o, c. ONNX
/// multiplies by the transpose (`X · Wᵀ`), orders gates i, o, f, c, and adds an input and a
/// recurrent bias: ours goes in the first, zeros in the second.
pub(crate) fn lstm_weights(cell: &Cell) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let h = cell.hidden;
    // ONNX gate block g is our block OURS[g].
    const OURS: [usize; 4] = [0, 2, 1, 3];
    let transposed = |m: &Matrix| {
        let mut out = Vec::with_capacity(m.data.len());
        for ours in OURS {
            for j in 0..h {
                let column = ours * h + j;
                out.extend((0..m.rows).map(|k| m.data[k * m.cols + column]));
            }
        }
        out
    };
    let mut bias: Vec<f32> = OURS
        .iter()
        .flat_map(|&ours| cell.bias[ours * h..(ours + 1) * h].iter().copied())
        .collect();
    bias.extend(std::iter::repeat_n(0.0, 4 * h));
    (transposed(&cell.input), transposed(&cell.recurrent), bias)
}

fn tensor_value(name: &str, elem_type: i32, dims: &[Dimension]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type,
                shape: Some(TensorShapeProto { dim: dims.to_vec() }),
            }),
        }),
        doc_string: String::new(),
    }
}

fn batch_dim() -> Dimension {
    Dimension {
        dim_value: None,
        dim_param: Some("batch".into()),
    }
}

fn fixed_dim(size: usize) -> Dimension {
    Dimension {
        dim_value: Some(size as i64),
        dim_param: None,
    }
}

fn graph(predictor: &Predictor) -> GraphProto {
    let layout = predictor.layout;
    let used = layout.samples_used();
    let mut g = Builder::default();
    // Only the samples the layout reads.
    let window = if used < SAMPLES_PER_RECORDING {
        let starts = g.int64s("window_starts", &[0]);
        let ends = g.int64s("window_ends", &[used as i64]);
        let axes = g.int64s("window_axes", &[1]);
        g.node("Slice", &[INPUT, &starts, &ends, &axes], "window", vec![])
    } else {
        INPUT.to_string()
    };
    let normalisation = predictor.normalisation;
    let centre = match normalisation.centring {
        Centring::Global => g.floats("global_mean", &[1], vec![normalisation.mean as f32]),
        Centring::PerWindow => g.node(
            "ReduceMean",
            &[&window],
            "window_mean",
            vec![ints("axes", &[1]), int("keepdims", 1)],
        ),
    };
    let centred = g.node("Sub", &[&window, &centre], "centred", vec![]);
    let inverse_std = g.floats("inverse_std", &[1], vec![(1.0 / normalisation.std) as f32]);
    let normalised = g.node("Mul", &[&centred, &inverse_std], "normalised", vec![]);
    let sequence = match &predictor.front_end {
        Some(conv) => g.conv(&normalised, used, conv),
        None => {
            let shape = g.int64s(
                "frames_shape",
                &[-1, layout.timesteps as i64, layout.features as i64],
            );
            let frames = g.node("Reshape", &[&normalised, &shape], "frames", vec![]);
            // [N, T, F] -> [T, N, F]: ONNX's LSTM reads time-major sequences.
            g.node(
                "Transpose",
                &[&frames],
                "sequence",
                vec![ints("perm", &[1, 0, 2])],
            )
        }
    };
    let states = g.lstm("lstm1", &sequence, &predictor.lstm1, true);
    let last = g.lstm("lstm2", &states, &predictor.lstm2, false);
    let dense = g.gemm("dense", &last, &predictor.dense, &predictor.dense_bias);
    let hidden = g.node("Tanh", &[&dense], "dense_tanh", vec![]);
    let logits = g.gemm("output", &hidden, &predictor.output, &predictor.output_bias);
    let scaled = match &predictor.card().temperature_scaling {
        Some(t) => {
            let inverse = g.floats(
                "inverse_temperature",
                &[1],
                vec![(1.0 / t.temperature) as f32],
            );
            g.node("Mul", &[&logits, &inverse], "scaled_logits", vec![])
        }
        None => logits,
    };
    let classes = g.node(
        "Softmax",
        &[&scaled],
        "class_probabilities",
        vec![int("axis", 1)],
    );
    let seizure = g.int64_scalar("seizure_class", 1);
    g.node(
        "Gather",
        &[&classes, &seizure],
        OUTPUT,
        vec![int("axis", 1)],
    );
    GraphProto {
        node: g.nodes,
        name: predictor.card().name.clone(),
        initializer: g.initializers,
        doc_string: String::new(),
        input: vec![tensor_value(
            INPUT,
            proto::FLOAT,
            &[batch_dim(), fixed_dim(SAMPLES_PER_RECORDING)],
        )],
        output: vec![tensor_value(OUTPUT, proto::FLOAT, &[batch_dim()])],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ONNX's `LSTM` (one direction, default activations) as its specification writes it,
    /// on `W` `[4H, in]`, `R` `[4H, H]`, `B` `[8H]`, gates i, o, f, c; time-major `x`.
    fn onnx_lstm(
        x: &[f32],
        steps: usize,
        batch: usize,
        input: usize,
        h: usize,
        weights: &(Vec<f32>, Vec<f32>, Vec<f32>),
    ) -> Vec<f32> {
        let (w, r, b) = weights;
        let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
        let mut hidden = vec![0f32; batch * h];
        let mut cell = vec![0f32; batch * h];
        let mut out = Vec::new();
        for t in 0..steps {
            let mut next = hidden.clone();
            for n in 0..batch {
                let xt = &x[(t * batch + n) * input..(t * batch + n + 1) * input];
                let ht = &hidden[n * h..(n + 1) * h];
                let gate = |g: usize, j: usize| {
                    let row = g * h + j;
                    let xw: f32 = (0..input).map(|k| xt[k] * w[row * input + k]).sum();
                    let hr: f32 = (0..h).map(|k| ht[k] * r[row * h + k]).sum();
                    xw + hr + b[row] + b[4 * h + row]
                };
                for j in 0..h {
                    let (i, o, f, c) = (
                        sigmoid(gate(0, j)),
                        sigmoid(gate(1, j)),
                        sigmoid(gate(2, j)),
                        gate(3, j).tanh(),
                    );
                    let state = &mut cell[n * h + j];
                    *state = f * *state + i * c;
                    next[n * h + j] = o * state.tanh();
                }
            }
            hidden = next;
            out.extend_from_slice(&hidden);
        }
        out
    }

    fn pseudo_random(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = eeg_data::random::Rng::new(seed);
        (0..len).map(|_| rng.range(-1.0, 1.0) as f32).collect()
    }

    #[test]
    fn rearranged_lstm_weights_compute_what_our_cell_computes() {
        let (input, h, steps, batch) = (5, 7, 4, 3);
        let cell = Cell {
            input: Matrix {
                rows: input,
                cols: 4 * h,
                data: pseudo_random(input * 4 * h, 1),
            },
            recurrent: Matrix {
                rows: h,
                cols: 4 * h,
                data: pseudo_random(h * 4 * h, 2),
            },
            bias: pseudo_random(4 * h, 3),
            hidden: h,
        };
        let x = pseudo_random(steps * batch * input, 4);
        let ours = cell.run(&x, steps, batch, true);
        let theirs = onnx_lstm(&x, steps, batch, input, h, &lstm_weights(&cell));
        assert_eq!(ours.len(), theirs.len());
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "largest difference {worst}");
    }

    #[test]
    fn the_exported_graph_declares_its_interface_and_every_tensor_it_reads() {
        use crate::config::ModelConfig;
        use crate::network::SeizureNet;
        use burn::prelude::Device;
        use eeg_data::layout::Normalisation;

        for front_end in [crate::FrontEnd::Frames, crate::FrontEnd::CONV] {
            let config = ModelConfig {
                front_end,
                ..ModelConfig::default()
            };
            let normalisation = Normalisation {
                centring: Centring::PerWindow,
                mean: 0.0,
                std: 100.0,
            };
            let network = SeizureNet::new(&config, &Device::flex());
            let card = crate::ModelCard::new(config, normalisation);
            let predictor = Predictor::from_network(card, &network);
            let bytes = export(&predictor);
            let decoded = ModelProto::decode(bytes.as_slice()).expect("decodes");
            assert_eq!(decoded, model(&predictor));
            assert_eq!(decoded.opset_import[0].version, OPSET);
            let graph = decoded.graph.expect("a graph");
            assert_eq!(graph.input[0].name, INPUT);
            assert_eq!(graph.output[0].name, OUTPUT);
            // Every node input is the graph input, an initializer, or an earlier output.
            let mut known: Vec<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
            known.push(INPUT.into());
            for node in &graph.node {
                for input in &node.input {
                    assert!(
                        known.contains(input),
                        "{} reads unknown {input:?}",
                        node.name
                    );
                }
                known.extend(node.output.iter().cloned());
            }
            assert!(known.contains(&OUTPUT.to_string()));
            for tensor in &graph.initializer {
                let size: i64 = tensor.dims.iter().product();
                let stored = tensor.float_data.len() + tensor.int64_data.len();
                assert_eq!(size as usize, stored, "{}", tensor.name);
            }
        }
    }
}
