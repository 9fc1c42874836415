//! The `code-router` command: parse the command line and hand it to `cli::run`.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's allocator: under load glibc's arenas contended on their locks and
/// fragmented (about 10% of CPU in malloc, and RSS growing well past the working set).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
