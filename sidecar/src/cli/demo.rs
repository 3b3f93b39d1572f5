//! `astha demo`: runs the sandbox pair demo (`astha-demo`, built from the tests crate) found next to this binary or on PATH.
//!
//! The demo needs the Asterisk emulator and the relay simulator, which the product binary does
//! not link; they ship as their own binaries (`scripts/demo.sh` builds all of them).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use super::Exit;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Arguments passed to `astha-demo` (e.g. `--fault hang`; see `astha demo -- --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `astha-demo` beside the running binary (a cargo target dir or /usr/bin), else on PATH.
fn demo_binary() -> Option<PathBuf> {
    let beside = std::env::current_exe().ok()?.parent()?.join("astha-demo");
    if beside.is_file() {
        return Some(beside);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join("astha-demo"))
        .find(|p| p.is_file())
}

pub fn run(args: DemoArgs, out: &mut dyn Write) -> Exit {
    let Some(binary) = demo_binary() else {
        let _ = writeln!(
            out,
            "astha demo: the `astha-demo` binary was not found next to astha or on PATH.\n\
             From a source checkout run `sudo scripts/demo.sh` (it builds everything the demo needs)."
        );
        return Exit::Usage;
    };
    // exec: the demo owns the terminal and its Ctrl-C handling from here on.
    let error = std::process::Command::new(&binary).args(&args.args).exec();
    let _ = writeln!(out, "astha demo: cannot run {}: {error}", binary.display());
    Exit::Usage
}
