//! `seizure-ops monitor`: score a long recording offline with the bedside alarm rule, and
//! write its events (JSON) and the strip chart a neurologist would check (SVG).
//!
//! `run_monitor` is the command, step by step: [`args`](MonitorArgs) says what is asked,
//! `model` loads the model, `input` reads the recording (`text` a text or CSV one),
//! `recording` runs each channel through the monitor (`signal`) and combines their alarms
//! (`combine`) beside the seizures the file's `annotations` mark, and `output` writes and
//! prints what was found.

mod annotations;
mod args;
mod combine;
mod input;
mod model;
mod output;
mod recording;
mod signal;
mod text;

pub use annotations::{annotated_seizures, names_a_seizure};
pub use args::{MonitorArgs, RuleArgs};
pub use combine::{combined, OodSummary};
pub use input::{read_input, Conditioning, Input, InputArgs};
pub use model::{load_model, ModelInfo};
pub use signal::{monitor_signal, spans, AlarmSpan, Monitored};
pub use text::{read_samples, MAX_INPUT_BYTES};

use output::Outputs;
use recording::Recording;

pub fn run_monitor(args: &MonitorArgs) -> anyhow::Result<()> {
    let (model_dir, predictor) = load_model(&args.home, args.model.as_deref())?;
    let config = args.rule.config(&predictor)?;
    let outputs = Outputs::of(args)?;
    let max_abs = predictor.card().input.max_abs_sample;
    let input = read_input(&args.source, max_abs)?;
    outputs.check_input(&input)?;
    let recording = Recording::monitor(&predictor, config, &input)?;
    let model = ModelInfo::of(&model_dir, &predictor);
    let file = outputs.events_file(&input, &recording, model, config);
    outputs.write(&file, &input, &recording)?;
    outputs.print_summary(&file, &recording);
    Ok(())
}
