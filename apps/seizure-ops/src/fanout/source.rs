//! A member's raw data: the home's CSV, or the one named by `--source` fetched from the DVC
//! remote by its md5 (preprocessing pushed it; the production model's training run recorded
//! it as `source_md5`).

use std::path::PathBuf;

use anyhow::{bail, Context};
use tracking::PRODUCTION_ALIAS;

use crate::pipeline::{dvc, tracking, PipelineArgs};
use crate::Home;

/// The member's raw CSV: `--source`'s from the remote, else the home's (or the synthetic set).
pub fn raw_csv(
    home: &Home,
    pipeline: &PipelineArgs,
    source: Option<&str>,
) -> anyhow::Result<PathBuf> {
    match source {
        Some(source) => fetch_source(home, source),
        None => crate::pipeline::raw_csv(home, pipeline),
    }
}

/// The raw CSV named by `source` (`production` or an md5), fetched from the DVC remote into
/// `home/fanout/source/<md5>.csv` (checked against its md5).
fn fetch_source(home: &Home, source: &str) -> anyhow::Result<PathBuf> {
    let md5 = if source == "production" {
        let model = service_flags::from_env::<evaluate::RegistryArgs>()?.model_name;
        let tracker = tracking(home)?.open()?;
        let version = tracker.alias(&model, PRODUCTION_ALIAS)?.with_context(|| {
            format!(
                "--source production: the {} tracker has no production version of {model:?} \
                 (run the pipeline first, or name the raw CSV's md5)",
                tracker.kind()
            )
        })?;
        tracker
            .run_params(&version.run_id)?
            .remove("source_md5")
            .with_context(|| {
                format!(
                    "--source production: version {} of {model:?} (run {}) recorded no \
                     source_md5 (trained before it was recorded): name the raw CSV's md5",
                    version.version, version.run_id
                )
            })?
    } else {
        source.to_owned()
    };
    // The remote's keys are lower case.
    let md5 = md5.to_ascii_lowercase();
    if !artifact_store::dvc::is_md5(&md5) {
        bail!("--source / FANOUT_SOURCE {source:?} is neither `production` nor an md5");
    }
    let remote = dvc()?.remote;
    let bytes = remote
        .settings()
        .fetch_file(&md5)
        .with_context(|| format!("cannot fetch the raw CSV {md5} from the DVC remote"))?;
    let dir = home.path("fanout/source");
    let path = dir.join(format!("{md5}.csv"));
    fs_err::create_dir_all(&dir)?;
    artifact_store::atomic::write_file(&path, &bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "raw data: {md5} ({} bytes) from the DVC remote {}",
        bytes.len(),
        remote.remote_url.as_deref().unwrap_or_default()
    );
    Ok(path)
}
