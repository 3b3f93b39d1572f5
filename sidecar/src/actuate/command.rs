//! Running an external command (drbdadm, mount, systemctl) with a deadline, killing its whole process group on timeout.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// What a finished command produced.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The last non-empty stderr line (or stdout when stderr is empty): what a failure says.
    pub fn last_words(&self) -> String {
        let pick = |s: &str| {
            s.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::trim)
                .map(str::to_owned)
        };
        pick(&self.stderr)
            .or_else(|| pick(&self.stdout))
            .unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("command is empty")]
    Empty,
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` did not finish within {} ms and was killed", after.as_millis())]
    Timeout { command: String, after: Duration },
    #[error("waiting for `{command}` failed: {source}")]
    Wait {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

/// What a command gets besides its arguments.
#[derive(Debug, Clone, Default)]
pub struct CommandInput {
    /// Written to its stdin, which is then closed (stdin is `/dev/null` when `None`).
    pub stdin: Option<Vec<u8>>,
    /// Added to the environment it inherits.
    pub env: Vec<(String, String)>,
}

/// Run `argv` (program and arguments) with stdin closed, collecting its output, within `timeout`.
///
/// The child runs in its own process group so a timeout kills everything it started (a
/// shell script's `sleep` would otherwise keep the output pipe open).
pub async fn run(argv: &[String], timeout: Duration) -> Result<CommandOutput, CommandError> {
    run_with(argv, timeout, &CommandInput::default()).await
}

/// [`run`], with `input` on stdin and in the environment. A command that does not read its
/// stdin is not an error (the unread rest is discarded).
pub async fn run_with(
    argv: &[String],
    timeout: Duration,
    input: &CommandInput,
) -> Result<CommandOutput, CommandError> {
    let (program, args) = argv.split_first().ok_or(CommandError::Empty)?;
    let shown = argv.join(" ");
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .envs(input.env.iter().map(|(k, v)| (k, v)))
        .stdin(if input.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| CommandError::Spawn {
            program: program.clone(),
            source,
        })?;
    let pgid = child.id();
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let collect = async {
        let write_in = async {
            if let (Some(pipe), Some(bytes)) = (stdin.as_mut(), input.stdin.as_deref()) {
                let _ = pipe.write_all(bytes).await;
            }
            // Closing stdin tells the command the input is complete.
            drop(stdin.take());
        };
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut err).await;
            }
        };
        tokio::join!(write_in, read_out, read_err);
        let status = child.wait().await;
        (status, out, err)
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok((status, out, err)) => {
            let status = status.map_err(|source| CommandError::Wait {
                command: shown.clone(),
                source,
            })?;
            Ok(CommandOutput {
                code: status.code(),
                stdout: String::from_utf8_lossy(&out).into_owned(),
                stderr: String::from_utf8_lossy(&err).into_owned(),
                elapsed: started.elapsed(),
            })
        }
        Err(_) => {
            if let Some(pid) = pgid.and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            Err(CommandError::Timeout {
                command: shown,
                after: timeout,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[tokio::test]
    async fn collects_output_and_exit_code() {
        let out = run(
            &argv(&["sh", "-c", "echo hi; echo oops >&2; exit 3"]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout.trim(), "hi");
        assert_eq!(out.last_words(), "oops");
    }

    #[tokio::test]
    async fn kills_a_hanging_command_and_its_children() {
        let started = Instant::now();
        let err = run(
            &argv(&["sh", "-c", "sleep 30; echo never"]),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, CommandError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn stdin_and_environment_reach_the_command() {
        let input = CommandInput {
            stdin: Some(b"{\"event\":\"test\"}".to_vec()),
            env: vec![("ASTHA_EVENT".into(), "test".into())],
        };
        let out = run_with(
            &argv(&["sh", "-c", "cat; echo \" $ASTHA_EVENT\""]),
            Duration::from_secs(5),
            &input,
        )
        .await
        .unwrap();
        assert_eq!(out.stdout.trim(), "{\"event\":\"test\"} test");
        // A command that never reads its stdin still succeeds.
        let out = run_with(&argv(&["true"]), Duration::from_secs(5), &input)
            .await
            .unwrap();
        assert!(out.success());
    }

    #[tokio::test]
    async fn missing_program_is_a_spawn_error() {
        let err = run(
            &argv(&["/nonexistent/astha-test-prog"]),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, CommandError::Spawn { .. }), "{err}");
    }
}
