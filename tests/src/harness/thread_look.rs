//! Looking at another process's threads from outside: a thread's state from its `/proc` `stat` line, and a looker thread at a real-time priority of its own.

/// The real-time priority of a looker thread (`chrt --rr`): above every ordinary process, so
/// that a saturated host does not make its looks late, and below astha (the shipped unit gives
/// it 10), so that looking never takes a CPU from what is looked at.
const LOOKER_PRIORITY: &str = "5";

/// Gives the calling thread the looker's real-time priority. Without it (no CAP_SYS_NICE) the
/// looks may come late on a loaded host; callers say what that means for what they measure.
pub fn become_looker() {
    let tid = nix::unistd::gettid().to_string();
    let _ = super::netns::run("chrt", &["--rr", "-p", LOOKER_PRIORITY, &tid]);
}

/// The state letter of a `/proc/PID/task/TID/stat` line: the field after the command name,
/// which is in parentheses and may itself hold spaces and parentheses.
pub fn thread_state(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_state_after_a_name_with_spaces_and_parentheses() {
        assert_eq!(thread_state("1234 (asterisk) S 1 1234"), Some('S'));
        assert_eq!(thread_state("1235 (a (b) c) T 1 1234"), Some('T'));
        assert_eq!(thread_state("garbage"), None);
    }
}
