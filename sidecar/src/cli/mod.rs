//! The `astha` command line (clap derive): one module per subcommand.
