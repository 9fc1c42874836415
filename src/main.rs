//! The `code-router` command: parse the command line and hand it to `cli::run`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = code_router::cli::Cli::parse();
    match code_router::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("code-router: {message}");
            ExitCode::FAILURE
        }
    }
}
