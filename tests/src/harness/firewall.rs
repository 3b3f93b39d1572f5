//! An nftables table the harness adds to a namespace to drop datagrams (the kernel here has no netem), counted, and removed on drop.

use super::netns::{output, run};
use super::HarnessError;

/// One `inet` table in one namespace; its rules' `counter`s say how many datagrams it dropped.
#[derive(Debug)]
pub struct DropTable {
    namespace: String,
    name: &'static str,
}

impl DropTable {
    /// Adds table `name` with one chain on `hook` (`input` or `output`) holding `rules`, each
    /// of which should end in `counter drop`.
    pub fn add(
        namespace: &str,
        name: &'static str,
        hook: &str,
        rules: &[String],
    ) -> Result<DropTable, HarnessError> {
        let ruleset = format!(
            "table inet {name} {{\n  chain {hook} {{\n    type filter hook {hook} priority 0; policy accept;\n{}  }}\n}}\n",
            rules.iter().map(|r| format!("    {r}\n")).collect::<String>()
        );
        let file = std::env::temp_dir().join(format!("{namespace}-{name}.nft"));
        std::fs::write(&file, ruleset).map_err(|source| HarnessError::Io {
            what: format!("write {}", file.display()),
            source,
        })?;
        let path = file.display().to_string();
        let added = run("ip", &["netns", "exec", namespace, "nft", "-f", &path]);
        let _ = std::fs::remove_file(&file);
        added?;
        Ok(DropTable {
            namespace: namespace.to_owned(),
            name,
        })
    }

    /// Datagrams dropped so far: the sum of the table's counters (0 if it cannot be read).
    pub fn dropped(&self) -> u64 {
        let Ok(text) = output(
            "ip",
            &[
                "netns",
                "exec",
                &self.namespace,
                "nft",
                "list",
                "table",
                "inet",
                self.name,
            ],
        ) else {
            return 0;
        };
        text.split("packets ")
            .skip(1)
            .filter_map(|after| after.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for DropTable {
    fn drop(&mut self) {
        let _ = run(
            "ip",
            &[
                "netns",
                "exec",
                &self.namespace,
                "nft",
                "delete",
                "table",
                "inet",
                self.name,
            ],
        );
    }
}
