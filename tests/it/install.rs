//! install.sh, as an operator would try it: into a prefix, twice, then the installed binary
//! started with the installed config.

use std::process::Command;

use crate::process::{Server, BIN};

#[tokio::test(flavor = "multi_thread")]
async fn install_into_a_prefix_then_run_what_was_installed() {
    let prefix = tempfile::tempdir().unwrap();
    let p = prefix.path();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh");
    let install = || {
        let out = Command::new("bash")
            .args([script, "--prefix", p.to_str().unwrap(), "--binary", BIN])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = install();
    let config = p.join("etc/code-router/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let data = p.join("var/lib/code-router");
    assert!(
        text.contains(&format!("data_dir = \"{}\"", data.display())),
        "{text}"
    );
    assert!(
        p.join("bin/code-router").exists() && data.is_dir(),
        "{first}"
    );

    // Idempotent: a second run keeps the operator's edits.
    std::fs::write(&config, format!("{text}\n# edited by the operator\n")).unwrap();
    let second = install();
    assert!(second.contains("kept as it is"), "{second}");
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .contains("# edited by the operator"));

    let installed = p.join("bin/code-router");
    let config_arg = config.display().to_string();
    let server = Server::start_binary(installed.to_str().unwrap(), &["--config", &config_arg]);
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        data.join("code-router.db").exists(),
        "state lives in the installed data dir"
    );

    let bad = Command::new("bash")
        .args([script, "--prefix"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
