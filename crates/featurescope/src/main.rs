//! `featurescope`: with no arguments, the desktop viewer; with a subcommand, a headless tool
//! (`layers`, `dump`, `render`, `attribute`, `visualize`, `dictionary`, `groups`, `spatial`,
//! `bench`, `atlas`, `compare`, `install`, `uninstall`).

mod cli;
mod commands;
mod common;

use std::process::ExitCode;

use clap::Parser;

/// Mesa's Vulkan device-select layer, which the Vulkan loader enables implicitly, connects to
/// Wayland to find the display's GPU; without `XDG_RUNTIME_DIR` libwayland then prints
/// `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` (twice) before any output
/// of ours, on every headless run. With no runtime dir there is no Wayland display to match, so
/// the layer has nothing to do: switch it off (`NODEVICE_SELECT=1`) for this process.
fn quiet_gpu_probe() {
    if !cfg!(target_os = "linux") || std::env::var_os("NODEVICE_SELECT").is_some() {
        return;
    }
    let runtime_dir =
        std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_absolute());
    if !runtime_dir {
        // SAFETY: this runs first thing in `main`, before any thread exists, so nothing can
        // read or write the environment at the same time.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("NODEVICE_SELECT", "1");
        }
    }
}

fn main() -> ExitCode {
    common::started();
    quiet_gpu_probe();
    featurescope_net::memory::keep_freed_memory();
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
