//! The data the trials train on: the pipeline's split, prepared once per input layout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use eeg_data::layout::InputLayout;
use eeg_data::prepare::{prepare, PrepareOptions, SplitOptions};

use super::space::TrialConfig;
use crate::Home;

/// The pipeline's split, prepared once per layout the trials use, in `tune/data-<layout>`.
pub(super) fn prepare_layouts(
    home: &Home,
    csv: &Path,
    configs: &[TrialConfig],
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let preprocess: preprocessing::PreprocessArgs = service_flags::from_env()?;
    let defaults = preprocessing::split_options(&preprocess)?;
    let mut dirs = BTreeMap::new();
    for config in configs {
        let name = config.layout_name();
        if dirs.contains_key(&name) {
            continue;
        }
        let dir = home.path(format!("tune/data-{name}"));
        let mut options = PrepareOptions::new(csv.to_owned(), dir.clone());
        options.split = SplitOptions {
            layout: InputLayout::new(config.timesteps, config.features)?,
            ..defaults
        };
        prepare(&options).with_context(|| format!("preprocessing for layout {name}"))?;
        dirs.insert(name, dir);
    }
    Ok(dirs)
}
