//! Every manifest in deploy/k8s validated against the Kubernetes API schemas
//! (the kubernetes-validate package) and KEDA's ScaledObject schema
//! (deploy/k8s/schemas), and checked against Fleet's configuration: the
//! scaling rule of each kind, probes, requests and the drain grace period.
//! `scripts/test` installs the Python packages (deploy/k8s/requirements.txt)
//! and names its interpreter in FLEET_TEST_PYTHON.

use std::{path::Path, process::Command};

fn python() -> String {
    std::env::var("FLEET_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Runs check.py in `dir` against the default configuration; returns (success, output).
fn check(dir: &Path) -> (bool, String) {
    let config = std::env::temp_dir()
        .join(fleet_testkit::unique("fleet-config-"))
        .with_extension("json");
    std::fs::write(
        &config,
        serde_json::to_vec(&fleet_shared::Config::default()).unwrap(),
    )
    .unwrap();
    let out = Command::new(python())
        .arg(dir.join("check.py"))
        .arg(&config)
        .output()
        .expect("python3 must be installed (scripts/test installs it)");
    let _ = std::fs::remove_file(&config);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("ModuleNotFoundError"),
        "the validator's packages are missing: run ./scripts/test, or pip install -r deploy/k8s/requirements.txt and set FLEET_TEST_PYTHON\n{text}"
    );
    (out.status.success(), text)
}

fn manifests() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s")
}

#[test]
fn manifests_are_valid_and_follow_the_configuration() {
    let (ok, text) = check(&manifests());
    assert!(ok, "{text}");
    assert!(text.contains("0 problem(s)"), "{text}");
}

#[test]
fn broken_manifests_are_reported() {
    let dir = std::env::temp_dir().join(fleet_testkit::unique("fleet-k8s-"));
    std::fs::create_dir_all(dir.join("schemas")).unwrap();
    for entry in std::fs::read_dir(manifests()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    for entry in std::fs::read_dir(manifests().join("schemas")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join("schemas").join(path.file_name().unwrap())).unwrap();
    }
    let edit = |file: &str, from: &str, to: &str| {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from} in {file}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    // A typo in a Kubernetes field, a KEDA field of the wrong type, a threshold
    // that is not the configured rule, and a grace period shorter than the drain.
    edit(
        "api.yaml",
        "enableServiceLinks: false",
        "enableServiceLink: false",
    );
    edit(
        "keda.yaml",
        "pollingInterval: 15",
        "pollingInterval: \"15\"",
    );
    edit("keda.yaml", "threshold: \"50\"", "threshold: \"75\"");
    edit(
        "workers.yaml",
        "terminationGracePeriodSeconds: 40",
        "terminationGracePeriodSeconds: 20",
    );
    let (ok, text) = check(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok, "{text}");
    for expected in [
        "Deployment/fleet-api (Kubernetes",
        "enableServiceLink",
        "spec/pollingInterval",
        "threshold 75 is not kinds.media.target_per_replica 50",
        "Deployment/fleet-worker-media: terminationGracePeriodSeconds",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
}
