//! Adam over the flat parameters, computed as burn's `Adam` computes it (bias corrections
//! folded into one factor, epsilon scaled by the second one), so the two engines take the
//! same step for the same gradient.

#[derive(Debug, Clone)]
pub struct Adam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    time: i32,
    moment_1: Vec<f32>,
    moment_2: Vec<f32>,
}

impl Adam {
    /// Adam with burn's default betas (0.9, 0.999) and `epsilon`, for `len` parameters.
    pub fn new(len: usize, epsilon: f32) -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon,
            time: 0,
            moment_1: vec![0.0; len],
            moment_2: vec![0.0; len],
        }
    }

    /// One step of `learning_rate` along `grads`.
    pub fn step(&mut self, learning_rate: f64, params: &mut [f32], grads: &[f32]) {
        assert_eq!(params.len(), self.moment_1.len());
        assert_eq!(grads.len(), params.len());
        self.time += 1;
        let (b1, b2) = (self.beta_1, self.beta_2);
        let correction_2 = (1.0 - b2.powi(self.time)).sqrt();
        let factor = correction_2 / (1.0 - b1.powi(self.time));
        let epsilon = self.epsilon * correction_2;
        let lr = learning_rate as f32;
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut self.moment_1)
            .zip(&mut self.moment_2)
        {
            *m = *m * b1 + g * (1.0 - b1);
            *v = *v * b2 + g * g * (1.0 - b2);
            *p -= (*m * factor) / (v.sqrt() + epsilon) * lr;
        }
    }
}
