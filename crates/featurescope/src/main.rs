//! `featurescope`: with no arguments, the desktop viewer; with a subcommand, a headless tool
//! (`layers`, `dump`, `render`, `bench`).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, no backtrace: the chain of causes joined.
            let msg = e
                .chain()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": ");
            eprintln!("featurescope: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
