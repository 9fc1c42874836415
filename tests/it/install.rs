//! install.sh, as an operator would try it: into a prefix, twice, then the installed binary
//! started with the installed config; and what it builds from a checkout is the statically
//! linked binary.
//!
//! A real static release build takes about seven minutes on two cores, too long for every test
//! run, so the build test puts a stand-in `cargo` first on PATH: it records how install.sh calls
//! it and leaves a small program built by rustc with those same flags where the build would be.
//! That checks install.sh's command, where it takes the binary from, that it installs it and
//! checks it, and that the flags make a static program; the binary itself was checked by
//! running install.sh for real once (see the commit that added this test).

use std::path::Path;
use std::process::Command;

use object::read::elf::{Dyn, ElfFile64, FileHeader, ProgramHeader};
use object::{elf, Endianness};

use crate::process::{Server, BIN};

/// Why an ELF file is not statically linked: it names a program interpreter (PT_INTERP) or
/// needs shared libraries (DT_NEEDED); `Ok(())` when it is static.
fn static_or_why(path: &Path) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let file = ElfFile64::<Endianness>::parse(&*data).map_err(|e| e.to_string())?;
    let endian = file.endian();
    let headers = file
        .elf_header()
        .program_headers(endian, &*data)
        .map_err(|e| e.to_string())?;
    for header in headers {
        if header.p_type(endian) == elf::PT_INTERP {
            return Err("it names a program interpreter (PT_INTERP)".into());
        }
        if let Ok(Some(entries)) = header.dynamic(endian, &*data) {
            if entries.iter().any(|d| d.d_tag(endian) == elf::DT_NEEDED) {
                return Err("it needs shared libraries (DT_NEEDED)".into());
            }
        }
    }
    Ok(())
}

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
    // The test binary is a debug build, dynamically linked: install.sh says so.
    assert!(static_or_why(Path::new(BIN)).is_err());
    assert!(first.contains("not statically linked"), "{first}");
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

/// The target triple install.sh builds for on this machine.
fn host_triple() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// A stand-in `cargo` in `dir`: it records its arguments and RUSTFLAGS in `dir/called` and
/// copies `result` to where `cargo build --release --target T` would leave the binary.
fn stand_in_cargo(dir: &Path, result: &Path) {
    let script = format!(
        "#!/usr/bin/env bash\nset -e\nprintf '%s\\n' \"$*\" \"$RUSTFLAGS\" > '{called}'\n\
         mkdir -p \"$CARGO_TARGET_DIR/{triple}/release\"\n\
         cp '{result}' \"$CARGO_TARGET_DIR/{triple}/release/code-router\"\n",
        called = dir.join("called").display(),
        triple = host_triple(),
        result = result.display(),
    );
    let cargo = dir.join("cargo");
    std::fs::write(&cargo, script).unwrap();
    let status = Command::new("chmod")
        .arg("+x")
        .arg(&cargo)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn from_a_checkout_install_builds_and_installs_the_static_binary() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let bin = w.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // A program built with install.sh's flags: static-pie, like the release build.
    std::fs::write(w.join("tiny.rs"), "fn main() {}\n").unwrap();
    let tiny = w.join("tiny");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let built = Command::new(rustc)
        .args([
            "-C",
            "target-feature=+crt-static",
            "--target",
            &host_triple(),
            "-o",
        ])
        .arg(&tiny)
        .arg(w.join("tiny.rs"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    assert_eq!(
        static_or_why(&tiny),
        Ok(()),
        "the flags make a static program"
    );

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let install = |prefix: &Path| {
        Command::new("bash")
            .args([script, "--prefix", prefix.to_str().unwrap()])
            .env("PATH", &path)
            .env("CARGO_TARGET_DIR", w.join("target"))
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap()
    };

    stand_in_cargo(&bin, &tiny);
    let prefix = w.join("prefix");
    let out = install(&prefix);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let called = std::fs::read_to_string(bin.join("called")).unwrap();
    let mut lines = called.lines();
    assert_eq!(
        lines.next(),
        Some(format!("build --release --locked --target {}", host_triple()).as_str())
    );
    assert_eq!(lines.next(), Some("-C target-feature=+crt-static"));
    let installed = prefix.join("bin/code-router");
    assert_eq!(
        static_or_why(&installed),
        Ok(()),
        "the installed file is static"
    );
    assert!(stdout.contains("(statically linked)"), "{stdout}");

    // A build that comes out dynamically linked is refused, and nothing is installed.
    stand_in_cargo(&bin, Path::new(BIN));
    let other = w.join("other");
    let out = install(&other);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(stderr.contains("not statically linked"), "{stderr}");
    assert!(!other.join("bin/code-router").exists());
}
