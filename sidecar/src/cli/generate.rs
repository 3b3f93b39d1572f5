//! `astha completions SHELL` and `astha man`: shell completions and the man page, generated from the CLI definition.

use std::io::Write;

use clap::CommandFactory;

use super::{Cli, Exit};

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn completions(args: CompletionsArgs, out: &mut dyn Write) -> Exit {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "astha", out);
    Exit::Ok
}

/// Writes the roff man page of `astha` and, after it, one page per subcommand (`astha-status`, …)
/// separated so a packaging script can split them; with `--subcommand NAME` only that one.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Only the page of this subcommand (e.g. `status`).
    #[arg(long)]
    pub subcommand: Option<String>,
}

pub fn man(args: ManArgs, out: &mut dyn Write) -> Exit {
    let command = Cli::command();
    let page = match &args.subcommand {
        None => command,
        Some(name) => match command.find_subcommand(name) {
            Some(sub) => sub.clone().display_name(format!("astha-{name}")),
            None => {
                let _ = writeln!(out, "astha man: no subcommand `{name}`");
                return Exit::Usage;
            }
        },
    };
    let mut buffer = Vec::new();
    if let Err(e) = clap_mangen::Man::new(page).render(&mut buffer) {
        let _ = writeln!(out, "astha man: {e}");
        return Exit::Usage;
    }
    let _ = out.write_all(&buffer);
    Exit::Ok
}
