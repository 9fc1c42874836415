//! The `code-router` command: parse the command line and hand it to `cli::run`.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's allocator: under load glibc's arenas contended on their locks and
/// fragmented (about 10% of CPU in malloc, and RSS growing well past the working set).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    no_transparent_huge_pages();
    let cli = code_router::cli::Cli::parse();
    match code_router::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("code-router: {message}");
            ExitCode::FAILURE
        }
    }
}

/// mimalloc reserves its arena with `madvise(MADV_HUGEPAGE)`, so on a kernel with transparent
/// huge pages each 2 MiB of the arena that holds one live allocation is backed by a whole huge
/// page. The flag is per process and the kernel checks it at fault time, so it also covers the
/// arena reserved before `main`. Where it cannot be set, the process runs as before.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}
