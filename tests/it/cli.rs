//! The `code-router` binary as an operator runs it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_code-router");

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("CODE_ROUTER_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn data_arg(dir: &Path) -> String {
    dir.join("data").display().to_string()
}

#[test]
fn config_check_accepts_the_example_and_names_errors() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let out = run(&["config", "check", "--config", example], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ok"));

    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[server]\nlisten = 3000\n", "line 2"),
        ("[server]\nlisten = \"3000\"\n", "server.listen"),
        ("[billing]\ndisplay = \"euros\"\n", "line 2"),
        ("[sever]\nlisten = \"127.0.0.1:1\"\n", "sever"),
        ("[models.\"gpt-4o\"]\ninput = 0.15\n", "line 2"),
        ("[server\n", "line 1"),
    ];
    for (content, needle) in cases {
        let file = dir.path().join("broken.toml");
        std::fs::write(&file, content).unwrap();
        let out = run(&["config", "check", "--config", file.to_str().unwrap()], "");
        assert!(!out.status.success(), "{content}");
        let err = text(&out.stderr);
        assert!(err.starts_with("code-router: config:"), "{err}");
        assert!(err.contains(needle), "{content}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }
    let out = run(&["config", "check", "--config", "/nonexistent.toml"], "");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot read"));
}

#[test]
fn user_create_adjust_audit_and_backup() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let out = run(
        &[
            "user",
            "create",
            "--data",
            &data,
            "--username",
            "ops",
            "--admin",
            "--password-stdin",
        ],
        "a long password\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("created admin ops"));

    let out = run(
        &[
            "user",
            "create",
            "--data",
            &data,
            "--username",
            "ops",
            "--password-stdin",
        ],
        "a long password\n",
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("already taken"));

    let out = run(
        &[
            "user",
            "create",
            "--data",
            &data,
            "--username",
            "xyz",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("8 to 128"));

    let adjust = |amount: &str| {
        run(
            &[
                "user",
                "adjust",
                "--data",
                &data,
                "--username",
                "ops",
                "--amount",
                amount,
                "--reason",
                "test",
            ],
            "",
        )
    };
    let out = adjust("12.5");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("balance is now 12.500000"));
    let out = adjust("-2.25");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("balance is now 10.250000"));
    for bad in ["-11", "1e3", "0.0000000001", "abc", "0"] {
        let out = adjust(bad);
        assert!(!out.status.success(), "{bad}");
        assert_eq!(text(&out.stderr).trim_end().lines().count(), 1, "{bad}");
    }

    let out = run(&["audit", "--data", &data], "");
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("audit: clean"));

    let copy = dir.path().join("copy.db");
    let out = run(
        &["backup", "--data", &data, "--out", copy.to_str().unwrap()],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(
        &["backup", "--data", &data, "--out", copy.to_str().unwrap()],
        "",
    );
    assert!(!out.status.success(), "refuses to overwrite");
    // The copy is written under a temporary name and renamed: nothing else is left beside it,
    // and it is a file of its own (no WAL) that opens with the books in it.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("copy"))
        .collect();
    names.sort();
    assert_eq!(names, ["copy.db"]);
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    let ledger: i64 = conn
        .query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))
        .unwrap();
    assert!(ledger > 0);
    drop(conn);
    // A copy that cannot be written (no such folder) fails with one line and leaves nothing.
    let nowhere = dir.path().join("no-such-dir").join("copy.db");
    let out = run(
        &[
            "backup",
            "--data",
            &data,
            "--out",
            nowhere.to_str().unwrap(),
        ],
        "",
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("backup: cannot create"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("no-such-dir").exists());

    // Tamper with a balance behind the ledger's back: audit names the account and fails.
    let conn = rusqlite::Connection::open(dir.path().join("data/code-router.db")).unwrap();
    conn.execute(
        "UPDATE users SET balance = balance + 1 WHERE username = 'ops'",
        [],
    )
    .unwrap();
    drop(conn);
    let out = run(&["audit", "--data", &data], "");
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("user 1 (ops): balance"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn serve_creates_the_first_admin_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let mut child = Command::new(BIN)
        .args(["serve", "--data", &data, "--listen", "127.0.0.1:0"])
        .env_remove("CODE_ROUTER_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut password = String::new();
    let mut address = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(p) = line.trim().strip_prefix("password: ") {
            password = p.to_string();
        }
        if let Some(a) = line.strip_prefix("Code Router listening on ") {
            address = a.to_string();
            break;
        }
    }
    assert_eq!(password.len(), 20, "admin password printed");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let health = reqwest::get(format!("{address}/healthz")).await.unwrap();
        assert_eq!(health.status(), 200);
        let client = crate::helpers::cookie_client();
        let r = client
            .post(format!("{address}/api/auth/login"))
            .json(&serde_json::json!({ "username": "admin", "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let (_, me) = crate::helpers::json_of(
            client
                .get(format!("{address}/api/me"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(me["role"], "admin");
    });
    child.kill().unwrap();
    child.wait().unwrap();

    // A second start finds the admin and prints no new password.
    let mut child = Command::new(BIN)
        .args(["serve", "--data", &data, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    assert!(first.starts_with("Code Router listening on"), "{first}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bad_command_lines_fail_clearly() {
    let out = run(
        &["serve", "--listen", "not-an-address", "--data", "/tmp/x"],
        "",
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("server.listen"));
    let out = run(&["user", "create", "--username", "a"], "");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--password-stdin"));
    let out = run(&["--help"], "");
    assert!(out.status.success());
    for command in ["serve", "user", "config", "audit", "backup"] {
        assert!(text(&out.stdout).contains(command), "{command} in help");
    }
}

/// `config check` warns, one line each and still exit 0, about what parses but cannot work: a
/// price no upstream serves, a served model with no price, an upstream that has no API key.
#[test]
fn config_check_warns_about_what_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[models.\"priced-only\"]\ninput = \"1\"\n[models.\"served\"]\ninput = \"1\"\n\
         [[upstreams]]\nname = \"a\"\nbase_url = \"http://127.0.0.1:9\"\napi_key = \"k\"\nmodels = [\"served\", \"unpriced\", \"local:free\"]\n\
         [[upstreams]]\nname = \"b\"\nbase_url = \"http://127.0.0.1:9\"\napi_key_env = \"CODE_ROUTER_TEST_UNSET\"\nmodels = [\"served\"]\n\
         [[upstreams]]\nname = \"c\"\nbase_url = \"http://127.0.0.1:9\"\napi_key_env = \"CODE_ROUTER_TEST_EMPTY\"\nmodels = [\"served\"]\n\
         [[upstreams]]\nname = \"d\"\nbase_url = \"http://127.0.0.1:9\"\nmodels = [\"served\"]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["config", "check", "--config", file.to_str().unwrap()])
        .env_remove("CODE_ROUTER_CONFIG")
        .env_remove("CODE_ROUTER_TEST_UNSET")
        .env("CODE_ROUTER_TEST_EMPTY", "")
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "warnings are not errors: {stderr}");
    assert!(stdout.contains("ok"), "{stdout}");
    let warnings: Vec<&str> = stderr.lines().collect();
    assert_eq!(warnings.len(), 5, "one line each: {stderr}");
    for needle in [
        "priced-only",
        "unpriced",
        "CODE_ROUTER_TEST_UNSET",
        "CODE_ROUTER_TEST_EMPTY",
        "upstream `d`",
    ] {
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("config check: warning: ") && w.contains(needle)),
            "{needle}: {stderr}"
        );
    }
    assert!(
        !stderr.contains("local:free"),
        "a :free model needs no price: {stderr}"
    );

    let help = run(&["config", "check", "--help"], "");
    let help = text(&help.stdout);
    assert!(help.contains("--config <FILE>"), "{help}");
    assert!(
        !help.contains("embedded defaults"),
        "config check cannot run without a file: {help}"
    );
}
