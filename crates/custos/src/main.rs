//! `custos`: the command line and composition root. It reads configuration, picks the store,
//! clock and key material, and starts the server or runs one administrative command through
//! the same service layer as the HTTP API. Nothing imports this crate.

mod audit;
mod boot;
mod cli;
mod script_test;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: a request allocates many small JSON values, and
/// glibc's malloc was a quarter of the decision API's CPU time (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("custos: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("custos: {e:#}");
            ExitCode::FAILURE
        }
    }
}
