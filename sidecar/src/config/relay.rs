//! `[actuate]` in the main configuration file: read with the actuator config structs, so `astha relay` and `check-config` see the PSTN relay the daemon will drive.
//!
//! The `[actuate]` table (see [`crate::actuate::config`] for every key) is deserialised with
//! serde as a whole, because its structs already deny unknown fields and carry defaults. This
//! module only turns serde's errors into [`Problem`]s with a line, and checks that the relay
//! section names a driver that can be built (without opening the device).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::actuate::config::{ActuateConfig, RelayConfig};
use crate::actuate::relay::build_relay;

use super::problem::{Problem, Problems};
use super::reader::Section;

/// Only `[actuate]` is looked at; every other table belongs to the rest of the config reader.
#[derive(Debug, Default, Deserialize)]
struct ActuateOnly {
    #[serde(default)]
    actuate: Option<ActuateConfig>,
}

/// Why the `[actuate]` section could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ActuateSectionError {
    #[error("cannot read configuration {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{problem}")]
    Invalid {
        path: PathBuf,
        problem: Box<Problem>,
    },
}

/// Marks `[actuate]` as a known section and records its problems (called from `parse_with`).
pub(crate) fn check(root: &mut Section<'_, '_>, text: &str, problems: &mut Problems) {
    let mut actuate = root.section(problems, "actuate");
    if !actuate.present() {
        return;
    }
    // Syntax errors are already reported by the main reader; serde would only repeat them.
    if toml::de::DeTable::parse(text).is_err() {
        return;
    }
    match deserialize(text) {
        Ok(Some(cfg)) => {
            if let Some(relay) = &cfg.relay {
                if let Err(e) = build_relay(relay) {
                    let span = actuate.section(problems, "relay").span();
                    problems.error("actuate.relay", span, e.to_string());
                }
            }
        }
        Ok(None) => {}
        Err(problem) => problems.push(problem),
    }
}

/// The `[actuate]` section of the file at `path`; the default (no devices) when absent.
pub fn load_actuate(path: &Path) -> Result<ActuateConfig, ActuateSectionError> {
    let text = std::fs::read_to_string(path).map_err(|source| ActuateSectionError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    match deserialize(&text) {
        Ok(cfg) => Ok(cfg.unwrap_or_default()),
        Err(problem) => {
            let mut problems = Problems::default();
            problems.push(problem);
            // `finish` fills in the line and column from the text.
            match problems.finish(&text).into_iter().next() {
                Some(problem) => Err(ActuateSectionError::Invalid {
                    path: path.to_path_buf(),
                    problem: Box::new(problem),
                }),
                None => Ok(ActuateConfig::default()),
            }
        }
    }
}

/// The relay of the file at `path` (`[actuate.relay]`), `None` when the node has none.
pub fn load_relay(path: &Path) -> Result<Option<RelayConfig>, ActuateSectionError> {
    Ok(load_actuate(path)?.relay)
}

fn deserialize(text: &str) -> Result<Option<ActuateConfig>, Problem> {
    match toml::from_str::<ActuateOnly>(text) {
        Ok(only) => Ok(only.actuate),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            Err(Problem::new(
                super::Severity::Error,
                "actuate".to_string(),
                span,
                e.message().trim().to_string(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretResolver;
    use crate::config::{parse_with, Severity};

    /// Secrets are irrelevant here: every lookup yields a fixed value.
    struct FixedSecrets;
    impl SecretResolver for FixedSecrets {
        fn env(&self, _name: &str) -> Option<String> {
            Some("s".into())
        }
        fn read_file(&self, _path: &Path) -> std::io::Result<String> {
            Ok("s".into())
        }
    }

    const BASE: &str = r#"
[node]
side = "a"
[asterisk.a.ami]
address = "127.0.0.1:5038"
username = "u"
secret_file = "x"
[asterisk.b.ami]
address = "127.0.0.2:5038"
username = "u"
secret_file = "x"
"#;

    fn errors(text: &str) -> Vec<Problem> {
        match parse_with(text, Path::new("."), &FixedSecrets) {
            Ok((_, warnings)) => warnings
                .into_iter()
                .filter(|p| p.severity == Severity::Error)
                .collect(),
            Err(problems) => problems
                .into_iter()
                .filter(|p| p.severity == Severity::Error)
                .collect(),
        }
    }

    #[test]
    fn actuate_section_is_known_and_valid() {
        let text = format!(
            "{BASE}\n[actuate.relay]\ndriver = \"numato\"\npath = \"/dev/ttyACM0\"\nchannels = [0, 1]\n"
        );
        assert_eq!(errors(&text), vec![]);
    }

    #[test]
    fn typo_in_relay_is_reported_with_its_line() {
        let text = format!(
            "{BASE}\n[actuate.relay]\ndriver = \"numato\"\npath = \"/dev/x\"\nchanels = [1]\n"
        );
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("chanels"), "{errs:?}");
        // The driver enum is internally tagged, so serde knows only the table's span, not
        // the key's: the problem points at the `[actuate.relay]` header.
        let line = text
            .lines()
            .position(|l| l.starts_with("[actuate.relay]"))
            .map(|i| i + 1);
        assert_eq!(Some(errs[0].line), line, "{errs:?}");
    }

    #[test]
    fn unbuildable_relay_is_an_error() {
        let text = format!(
            "{BASE}\n[actuate.relay]\ndriver = \"numato\"\npath = \"/dev/x\"\nchannels = []\n"
        );
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].key, "actuate.relay");
        assert!(errs[0].message.contains("channels"), "{errs:?}");
    }

    #[test]
    fn load_relay_reads_the_driver_or_none() {
        let dir = std::env::temp_dir().join(format!("astha-relay-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let with = dir.join("with.toml");
        std::fs::write(
            &with,
            format!("{BASE}\n[actuate.relay]\ndriver = \"lcus\"\npath = \"/dev/ttyUSB0\"\n"),
        )
        .unwrap();
        let without = dir.join("without.toml");
        std::fs::write(&without, BASE).unwrap();
        let bad = dir.join("bad.toml");
        std::fs::write(
            &bad,
            format!("{BASE}\n[actuate.relay]\ndriver = \"nope\"\n"),
        )
        .unwrap();

        assert!(matches!(load_relay(&with), Ok(Some(RelayConfig::Lcus(_)))));
        assert!(matches!(load_relay(&without), Ok(None)));
        let err = load_relay(&bad).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
