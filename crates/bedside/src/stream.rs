//! Cutting a continuous signal into the model's windows.

/// Cuts a signal pushed at any chunking into windows of `window` samples, one every `hop`
/// samples (window `i` covers samples `i * hop .. i * hop + window`). It keeps only the
/// samples a future window still needs: fewer than `window` between pushes, so a session's
/// memory does not grow with its length.
#[derive(Debug, Clone)]
pub struct WindowCutter {
    window: usize,
    hop: usize,
    /// Absolute index of `buffer[0]`.
    buffer_start: u64,
    buffer: Vec<f32>,
    /// Absolute index of the next window's first sample.
    next_start: u64,
}

impl WindowCutter {
    /// `window` and `hop` must both be at least 1.
    pub fn new(window: usize, hop: usize) -> Self {
        assert!(window > 0 && hop > 0, "window and hop must be positive");
        Self {
            window,
            hop,
            buffer_start: 0,
            buffer: Vec::with_capacity(window),
            next_start: 0,
        }
    }

    pub fn window(&self) -> usize {
        self.window
    }

    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Samples pushed so far.
    pub fn samples_seen(&self) -> u64 {
        self.buffer_start + self.buffer.len() as u64
    }

    /// Samples held for windows still to come.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Appends `samples`; returns the first sample index of each window they complete, and
    /// writes those windows' samples (row-major, `window` each) to `windows`.
    pub fn push(&mut self, samples: &[f32], windows: &mut Vec<f32>) -> Vec<u64> {
        let mut starts = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            // Samples before the next window's start are not needed (hop > window).
            let skip = self
                .next_start
                .saturating_sub(self.samples_seen())
                .min(rest.len() as u64) as usize;
            self.buffer_start += skip as u64;
            rest = &rest[skip..];
            // Take at most what completes the next window, so the buffer stays bounded.
            let end = self.next_start + self.window as u64;
            let wanted = (end - self.samples_seen()).min(rest.len() as u64) as usize;
            self.buffer.extend_from_slice(&rest[..wanted]);
            rest = &rest[wanted..];
            if self.samples_seen() == end {
                let from = (self.next_start - self.buffer_start) as usize;
                windows.extend_from_slice(&self.buffer[from..from + self.window]);
                starts.push(self.next_start);
                self.next_start += self.hop as u64;
                let drop = (self.next_start - self.buffer_start).min(self.buffer.len() as u64);
                self.buffer.drain(..drop as usize);
                self.buffer_start += drop;
            }
        }
        starts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every window of `signal` the cutter should produce, cut in one go.
    fn expected(signal: &[f32], window: usize, hop: usize) -> (Vec<u64>, Vec<f32>) {
        let mut starts = Vec::new();
        let mut samples = Vec::new();
        let mut start = 0;
        while start + window <= signal.len() {
            starts.push(start as u64);
            samples.extend_from_slice(&signal[start..start + window]);
            start += hop;
        }
        (starts, samples)
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_windows(
            len in 0usize..2000,
            window in 1usize..200,
            hop in 1usize..300,
            cuts in proptest::collection::vec(0usize..400, 0..20),
        ) {
            let signal: Vec<f32> = (0..len).map(|i| i as f32).collect();
            let mut cutter = WindowCutter::new(window, hop);
            let (mut starts, mut samples) = (Vec::new(), Vec::new());
            let mut at = 0;
            for cut in cuts.into_iter().chain(std::iter::once(usize::MAX)) {
                let end = at + cut.min(len - at);
                starts.extend(cutter.push(&signal[at..end], &mut samples));
                prop_assert!(cutter.buffered() < window);
                at = end;
                if at == len { break; }
            }
            prop_assert_eq!(cutter.samples_seen(), len as u64);
            prop_assert_eq!((starts, samples), expected(&signal, window, hop));
        }
    }

    #[test]
    fn one_sample_at_a_time() {
        let signal: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let mut cutter = WindowCutter::new(178, 87);
        let (mut starts, mut samples) = (Vec::new(), Vec::new());
        for s in &signal {
            starts.extend(cutter.push(std::slice::from_ref(s), &mut samples));
        }
        assert_eq!((starts, samples), expected(&signal, 178, 87));
    }
}
