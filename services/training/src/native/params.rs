//! The network's parameters as one flat vector (so the optimiser, the gradient sums and the
//! shards see one buffer), with each tensor's place in it, and the way in and out of burn's
//! [`SeizureNet`].

use std::ops::Range;

use burn::module::Param;
use burn::prelude::*;
use seizure_model::{FrontEnd, ModelConfig, SeizureNet};

/// Where each tensor lies in the flat vector, and the sizes the passes need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shapes {
    /// `(kernel, channels, stride)` of the convolutional front end, if any.
    pub conv: Option<(usize, usize, usize)>,
    /// Steps and features per step the first LSTM reads.
    pub steps: usize,
    pub lstm_input: usize,
    pub hidden1: usize,
    pub hidden2: usize,
    pub dense: usize,
    pub classes: usize,
    /// The layout's `[timesteps, features]` (what a window is).
    pub window: [usize; 2],
    /// In order: conv weights, conv bias, then per LSTM input, recurrent, bias, then dense
    /// weights and bias, output weights and bias (empty ranges without a front end).
    ranges: [Range<usize>; 12],
}

/// The tensors, in the flat vector's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    ConvWeights = 0,
    ConvBias,
    Lstm1Input,
    Lstm1Recurrent,
    Lstm1Bias,
    Lstm2Input,
    Lstm2Recurrent,
    Lstm2Bias,
    DenseWeights,
    DenseBias,
    OutputWeights,
    OutputBias,
}

impl Shapes {
    /// The shapes of `config`'s network (its front end must accept its layout: training
    /// checks it before building the network).
    pub fn of(config: &ModelConfig) -> Self {
        let (steps, lstm_input) = config
            .front_end
            .sequence_shape(config.layout)
            .expect("the front end accepts the layout (checked before training)");
        let conv = match config.front_end {
            FrontEnd::Frames => None,
            FrontEnd::Conv {
                channels,
                kernel,
                stride,
            } => Some((kernel, channels, stride)),
        };
        let (h1, h2, d, k) = (
            config.lstm1_hidden,
            config.lstm2_hidden,
            config.dense_hidden,
            config.classes,
        );
        let (conv_w, conv_b) = conv.map_or((0, 0), |(kernel, channels, _)| {
            (kernel * channels, channels)
        });
        let sizes = [
            conv_w,
            conv_b,
            lstm_input * 4 * h1,
            h1 * 4 * h1,
            4 * h1,
            h1 * 4 * h2,
            h2 * 4 * h2,
            4 * h2,
            h2 * d,
            d,
            d * k,
            k,
        ];
        let mut start = 0;
        let ranges = sizes.map(|size| {
            let range = start..start + size;
            start += size;
            range
        });
        Self {
            conv,
            steps,
            lstm_input,
            hidden1: h1,
            hidden2: h2,
            dense: d,
            classes: k,
            window: [config.layout.timesteps, config.layout.features],
            ranges,
        }
    }

    /// Values in the flat vector.
    #[allow(clippy::len_without_is_empty)] // a network always has parameters
    pub fn len(&self) -> usize {
        self.ranges[11].end
    }

    pub fn range(&self, part: Part) -> Range<usize> {
        self.ranges[part as usize].clone()
    }

    /// Every tensor's shape as burn stores it (`[in, out]` for matrices), in order.
    fn dims(&self) -> [Vec<usize>; 12] {
        let (h1, h2) = (self.hidden1, self.hidden2);
        let (kernel, channels) = self.conv.map_or((0, 0), |(k, c, _)| (k, c));
        [
            vec![kernel, channels],
            vec![channels],
            vec![self.lstm_input, 4 * h1],
            vec![h1, 4 * h1],
            vec![4 * h1],
            vec![h1, 4 * h2],
            vec![h2, 4 * h2],
            vec![4 * h2],
            vec![h2, self.dense],
            vec![self.dense],
            vec![self.dense, self.classes],
            vec![self.classes],
        ]
    }
}

/// The parameters of `network`, flat in [`Shapes`]' order.
pub fn flatten(network: &SeizureNet, shapes: &Shapes) -> Vec<f32> {
    fn read<const D: usize>(param: &Param<Tensor<D>>) -> Vec<f32> {
        param
            .val()
            .try_to_vec_as::<f32>()
            .expect("weights are readable")
    }
    let mut values = Vec::with_capacity(shapes.len());
    if let Some(conv) = &network.front_end {
        values.extend(read(&conv.weights));
        values.extend(read(&conv.bias));
    }
    for lstm in [&network.lstm1, &network.lstm2] {
        values.extend(read(&lstm.input_weights));
        values.extend(read(&lstm.recurrent_weights));
        values.extend(read(&lstm.bias));
    }
    for linear in [&network.dense, &network.output] {
        values.extend(read(&linear.weight));
        let bias = linear.bias.as_ref().expect("the dense layers have biases");
        values.extend(read(bias));
    }
    assert_eq!(
        values.len(),
        shapes.len(),
        "the network has the shapes' size"
    );
    values
}

/// `template` (the same architecture, on a plain device) with the parameters `values`.
pub fn unflatten(template: &SeizureNet, shapes: &Shapes, values: &[f32]) -> SeizureNet {
    assert_eq!(values.len(), shapes.len());
    let device = template.lstm1.bias.val().device();
    let dims = shapes.dims();
    let tensor = |part: Part| -> TensorData {
        TensorData::new(
            values[shapes.range(part)].to_vec(),
            dims[part as usize].clone(),
        )
    };
    let matrix = |part: Part| Param::from_tensor(Tensor::<2>::from_data(tensor(part), &device));
    let vector = |part: Part| Param::from_tensor(Tensor::<1>::from_data(tensor(part), &device));
    let mut network = template.clone();
    if let Some(conv) = network.front_end.as_mut() {
        conv.weights = matrix(Part::ConvWeights);
        conv.bias = vector(Part::ConvBias);
    }
    network.lstm1.input_weights = matrix(Part::Lstm1Input);
    network.lstm1.recurrent_weights = matrix(Part::Lstm1Recurrent);
    network.lstm1.bias = vector(Part::Lstm1Bias);
    network.lstm2.input_weights = matrix(Part::Lstm2Input);
    network.lstm2.recurrent_weights = matrix(Part::Lstm2Recurrent);
    network.lstm2.bias = vector(Part::Lstm2Bias);
    network.dense.weight = matrix(Part::DenseWeights);
    network.dense.bias = Some(vector(Part::DenseBias));
    network.output.weight = matrix(Part::OutputWeights);
    network.output.bias = Some(vector(Part::OutputBias));
    network
}
