//! The emulated dialplan: contexts, extensions and the applications each priority runs.
//!
//! Only what the call-event generator needs: which applications a `Local/<exten>@<context>`
//! channel runs, in which order, and how long each takes. [`Dialplan::shipped`] models
//! `dialplan/extensions_astha.conf` (the default); [`Dialplan::captured`] reproduces the dialplan
//! fixtures 01-23 were captured with (see `tests/fixtures/asterisk-22/README.md`).

use std::time::Duration;

/// One dialplan application at one priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialplanApp {
    /// `NoOp(text)`: only a `Newexten` event. `${SYSTEMNAME}` is substituted.
    NoOp(String),
    /// `Answer()`: the call is answered; the channel then settles for the configured answer delay.
    Answer,
    /// `Playback(file)`: takes `duration`, then sets `PLAYBACKSTATUS=SUCCESS`.
    Playback {
        /// The file name as written in the dialplan (`silence/1`).
        file: String,
        /// How long the playback takes.
        duration: Duration,
    },
    /// `Wait(seconds)`.
    Wait(Duration),
    /// `Echo()`: runs until the call is hung up from elsewhere.
    Echo,
    /// `UserEvent(name,Key: value,...)`: a `UserEvent` event with the channel's headers.
    UserEvent {
        /// The event name (`HAFailover`).
        name: String,
        /// `Key: value` pairs, `${SYSTEMNAME}` substituted.
        headers: Vec<(String, String)>,
    },
    /// `Hangup()`.
    Hangup,
    /// An application whose module is not loaded (`module unload app_playback.so`): the channel
    /// is hung up when it gets there (fixture 26).
    Unavailable(String),
    /// `GotoIf($["${variable}" = "value"]?label)` (`!=` when `equal` is false): jumps to the
    /// priority labelled `label` when the comparison holds, else goes on.
    GotoIf {
        variable: String,
        equal: bool,
        value: String,
        label: String,
    },
}

/// The variables a channel's dialplan sees: `${SYSTEMNAME}` and the channel's own.
#[derive(Clone, Copy, Debug)]
pub struct Vars<'a> {
    pub system_name: &'a str,
    pub channel: &'a [(String, String)],
}

impl Vars<'_> {
    /// The value of `${name}` (empty when unset, as in Asterisk).
    pub fn get(&self, name: &str) -> &str {
        if name == "SYSTEMNAME" {
            return self.system_name;
        }
        self.channel
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

impl DialplanApp {
    /// The application name as Asterisk reports it in `Newexten` (`Application:`).
    pub fn name(&self) -> &'static str {
        match self {
            DialplanApp::NoOp(_) => "NoOp",
            DialplanApp::Answer => "Answer",
            DialplanApp::Playback { .. } => "Playback",
            DialplanApp::Wait(_) => "Wait",
            DialplanApp::Echo => "Echo",
            DialplanApp::UserEvent { .. } => "UserEvent",
            DialplanApp::Hangup => "Hangup",
            DialplanApp::GotoIf { .. } => "GotoIf",
            DialplanApp::Unavailable(_) => "(unavailable)",
        }
    }

    /// For `GotoIf`: whether its condition holds with these variables.
    pub fn condition(&self, vars: Vars<'_>) -> Option<bool> {
        match self {
            DialplanApp::GotoIf {
                variable,
                equal,
                value,
                ..
            } => Some((vars.get(variable) == value) == *equal),
            _ => None,
        }
    }

    /// The application data as Asterisk reports it in `Newexten` (`AppData:`): after variable
    /// substitution and expression evaluation (a `GotoIf` shows `1?label` or `0?label`).
    pub fn data(&self, vars: Vars<'_>) -> String {
        match self {
            DialplanApp::NoOp(text) => substitute(text, vars),
            DialplanApp::Answer
            | DialplanApp::Echo
            | DialplanApp::Hangup
            | DialplanApp::Unavailable(_) => String::new(),
            DialplanApp::Playback { file, .. } => file.clone(),
            DialplanApp::Wait(d) => format_seconds(*d),
            DialplanApp::UserEvent { name, headers } => {
                let mut data = name.clone();
                for (k, v) in headers {
                    data.push(',');
                    data.push_str(k);
                    data.push_str(": ");
                    data.push_str(&substitute(v, vars));
                }
                data
            }
            DialplanApp::GotoIf { label, .. } => {
                let holds = self.condition(vars).unwrap_or(false);
                format!("{}?{label}", u8::from(holds))
            }
        }
    }
}

/// Replaces `${NAME}` the way the Asterisk dialplan would (unset variables become empty).
pub fn substitute(text: &str, vars: Vars<'_>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                out.push_str(vars.get(&after[..end]));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn format_seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{}", d.as_secs_f64())
    }
}

/// One extension: a context, an extension name and its priorities (1, 2, 3, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// The context (`ha-probe`).
    pub context: String,
    /// The extension (`probe`, `*999`).
    pub exten: String,
    /// Applications run at priorities 1, 2, 3, ...
    pub priorities: Vec<DialplanApp>,
    /// Priority labels (`same => n(marker),...`): name and index into `priorities`.
    pub labels: Vec<(String, usize)>,
}

impl Extension {
    /// An extension with explicit priorities.
    pub fn new(context: &str, exten: &str, priorities: Vec<DialplanApp>) -> Extension {
        Extension {
            context: context.to_owned(),
            exten: exten.to_owned(),
            priorities,
            labels: Vec::new(),
        }
    }

    /// Labels the priority at `index` (0-based).
    #[must_use]
    pub fn with_label(mut self, label: &str, index: usize) -> Extension {
        self.labels.push((label.to_owned(), index));
        self
    }

    /// The index of the priority labelled `label`.
    pub fn label(&self, label: &str) -> Option<usize> {
        self.labels
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, i)| *i)
    }

    /// The shipped probe extension (`dialplan/extensions_astha.conf`): unless `HA_PROBE_QUICK`
    /// is `yes`, Answer and play silence for `playback`; then, if the playback succeeded, the
    /// marker `UserEvent(HAProbe,Probe: ${HA_PROBE_ID})`; then Hangup.
    pub fn shipped_probe(context: &str, exten: &str, playback: Duration) -> Extension {
        let goto = |variable: &str, equal: bool, value: &str, label: &str| DialplanApp::GotoIf {
            variable: variable.to_owned(),
            equal,
            value: value.to_owned(),
            label: label.to_owned(),
        };
        Extension::new(
            context,
            exten,
            vec![
                goto("HA_PROBE_QUICK", true, "yes", "marker"),
                DialplanApp::Answer,
                DialplanApp::Playback {
                    file: "silence/1".to_owned(),
                    duration: playback,
                },
                goto("PLAYBACKSTATUS", false, "SUCCESS", "end"),
                DialplanApp::UserEvent {
                    name: "HAProbe".to_owned(),
                    headers: vec![("Probe".to_owned(), "${HA_PROBE_ID}".to_owned())],
                },
                DialplanApp::Hangup,
            ],
        )
        .with_label("marker", 4)
        .with_label("end", 5)
    }

    /// Answer, play silence for `after`, hang up (the captured `probe` extension:
    /// `NoOp(HA probe on ${SYSTEMNAME})`, `Answer`, `Playback(silence/1)`, `Hangup`).
    pub fn answer_then_hangup(context: &str, exten: &str, after: Duration) -> Extension {
        Extension::new(
            context,
            exten,
            vec![
                DialplanApp::NoOp(format!("HA {exten} on ${{SYSTEMNAME}}")),
                DialplanApp::Answer,
                DialplanApp::Playback {
                    file: "silence/1".to_owned(),
                    duration: after,
                },
                DialplanApp::Hangup,
            ],
        )
    }

    /// Answer and stay up until hung up (the captured `echo` extension).
    pub fn echo(context: &str, exten: &str) -> Extension {
        Extension::new(
            context,
            exten,
            vec![
                DialplanApp::NoOp(format!("HA {exten} on ${{SYSTEMNAME}}")),
                DialplanApp::Answer,
                DialplanApp::Echo,
                DialplanApp::Hangup,
            ],
        )
    }

    /// Answer, emit a UserEvent, play silence for `after`, hang up (the captured `*999@ha-admin`).
    pub fn user_event(
        context: &str,
        exten: &str,
        name: &str,
        headers: &[(&str, &str)],
        after: Duration,
    ) -> Extension {
        Extension::new(
            context,
            exten,
            vec![
                DialplanApp::NoOp("Manual failover requested on ${SYSTEMNAME}".to_owned()),
                DialplanApp::Answer,
                DialplanApp::UserEvent {
                    name: name.to_owned(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                },
                DialplanApp::Playback {
                    file: "silence/1".to_owned(),
                    duration: after,
                },
                DialplanApp::Hangup,
            ],
        )
    }
}

/// The whole dialplan: a list of extensions looked up by (context, exten).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dialplan {
    extensions: Vec<Extension>,
}

impl Dialplan {
    /// An empty dialplan (every originate fails as in fixture 11/12).
    pub fn empty() -> Dialplan {
        Dialplan::default()
    }

    /// The dialplan the fixtures were captured with: `probe@ha-probe`, `echo@ha-probe`,
    /// `*999@ha-admin` (UserEvent `HAFailover`, `Reason: manual`, `Node: ${SYSTEMNAME}`).
    /// `playback` is the length of `Playback(silence/1)` (1 s on the real system).
    pub fn captured(playback: Duration) -> Dialplan {
        let mut plan = Dialplan::empty();
        plan.add(Extension::answer_then_hangup("ha-probe", "probe", playback));
        plan.add(Extension::echo("ha-probe", "echo"));
        plan.add(Extension::user_event(
            "ha-admin",
            "*999",
            "HAFailover",
            &[("Reason", "manual"), ("Node", "${SYSTEMNAME}")],
            playback,
        ));
        plan
    }

    /// The shipped dialplan (`dialplan/extensions_astha.conf`): `probe@ha-probe` with its
    /// marker (see [`Extension::shipped_probe`]), `echo@ha-probe`, and `*999@ha-admin` without
    /// its `Authenticate` (the emulator carries no DTMF; the control channel's `userevent`
    /// stands in for the PIN entry). `playback` is the length of `Playback(silence/1)`.
    pub fn shipped(playback: Duration) -> Dialplan {
        let mut plan = Dialplan::empty();
        plan.add(Extension::shipped_probe("ha-probe", "probe", playback));
        plan.add(Extension::new(
            "ha-probe",
            "echo",
            vec![DialplanApp::Answer, DialplanApp::Echo, DialplanApp::Hangup],
        ));
        plan.add(Extension::new(
            "ha-admin",
            "*999",
            vec![
                DialplanApp::Answer,
                DialplanApp::Wait(Duration::from_millis(500)),
                DialplanApp::UserEvent {
                    name: "HAFailover".to_owned(),
                    headers: vec![
                        ("Reason".to_owned(), "manual".to_owned()),
                        ("Node".to_owned(), "${SYSTEMNAME}".to_owned()),
                    ],
                },
                DialplanApp::Playback {
                    file: "beep".to_owned(),
                    duration: playback / 4,
                },
                DialplanApp::Playback {
                    file: "silence/1".to_owned(),
                    duration: playback,
                },
                DialplanApp::Hangup,
            ],
        ));
        plan
    }

    /// Adds (or replaces) an extension.
    pub fn add(&mut self, extension: Extension) {
        self.extensions
            .retain(|e| !(e.context == extension.context && e.exten == extension.exten));
        self.extensions.push(extension);
    }

    /// Builder form of [`Dialplan::add`].
    #[must_use]
    pub fn with(mut self, extension: Extension) -> Dialplan {
        self.add(extension);
        self
    }

    /// Looks an extension up (exact match; no pattern matching).
    pub fn lookup(&self, context: &str, exten: &str) -> Option<&Extension> {
        self.extensions
            .iter()
            .find(|e| e.context == context && e.exten == exten)
    }

    /// Whether any extension of the context has this name (SIP OPTIONS `sip:<user>@`).
    pub fn has_exten(&self, context: &str, exten: &str) -> bool {
        self.lookup(context, exten).is_some()
    }

    /// Every extension.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }
}

/// Parses a `--exten` command-line spec: `CONTEXT,EXTEN,BEHAVIOUR` where BEHAVIOUR is
/// `answer-hangup:MS`, `echo`, or `userevent:NAME:MS[:Key=Value;Key=Value]`.
pub fn parse_exten_spec(spec: &str) -> Result<Extension, String> {
    let mut parts = spec.splitn(3, ',');
    let (Some(context), Some(exten), Some(behaviour)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "exten spec {spec:?}: expected CONTEXT,EXTEN,BEHAVIOUR"
        ));
    };
    let parse_ms = |ms: &str| -> Result<Duration, String> {
        ms.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("exten spec {spec:?}: {ms:?} is not a number of milliseconds"))
    };
    let fields: Vec<&str> = behaviour.split(':').collect();
    match fields.as_slice() {
        ["echo"] => Ok(Extension::echo(context, exten)),
        ["answer-hangup", ms] => Ok(Extension::answer_then_hangup(
            context,
            exten,
            parse_ms(ms)?,
        )),
        ["userevent", name, ms, rest @ ..] => {
            let mut headers = Vec::new();
            for pair in rest.join(":").split(';').filter(|p| !p.is_empty()) {
                let Some((k, v)) = pair.split_once('=') else {
                    return Err(format!(
                        "exten spec {spec:?}: header {pair:?} is not Key=Value"
                    ));
                };
                headers.push((k.to_owned(), v.to_owned()));
            }
            let refs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            Ok(Extension::user_event(
                context,
                exten,
                name,
                &refs,
                parse_ms(ms)?,
            ))
        }
        _ => Err(format!(
            "exten spec {spec:?}: behaviour must be answer-hangup:MS, echo, or userevent:NAME:MS[:K=V;K=V]"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(system_name: &str) -> Vars<'_> {
        Vars {
            system_name,
            channel: &[],
        }
    }

    #[test]
    fn shipped_probe_jumps_by_its_variables_and_substitutes_the_marker() {
        let probe = Extension::shipped_probe("ha-probe", "probe", Duration::from_secs(1));
        let quick = [("HA_PROBE_QUICK".to_owned(), "yes".to_owned())];
        let quick = Vars {
            system_name: "ha-a",
            channel: &quick,
        };
        assert_eq!(probe.priorities[0].condition(quick), Some(true));
        assert_eq!(probe.priorities[0].data(quick), "1?marker");
        assert_eq!(probe.priorities[0].data(vars("ha-a")), "0?marker");
        assert_eq!(probe.label("marker"), Some(4));
        let played = [
            ("HA_PROBE_ID".to_owned(), "t1".to_owned()),
            ("PLAYBACKSTATUS".to_owned(), "SUCCESS".to_owned()),
        ];
        let played = Vars {
            system_name: "ha-a",
            channel: &played,
        };
        assert_eq!(probe.priorities[3].condition(played), Some(false));
        assert_eq!(probe.priorities[4].data(played), "HAProbe,Probe: t1");
        assert_eq!(substitute("${A}-${SYSTEMNAME}-${", played), "-ha-a-${");
    }

    #[test]
    fn captured_dialplan_matches_the_fixture_appdata() {
        let plan = Dialplan::captured(Duration::from_secs(1));
        let admin = plan.lookup("ha-admin", "*999").expect("*999 exists");
        assert_eq!(
            admin.priorities[0].data(vars("ha-a")),
            "Manual failover requested on ha-a"
        );
        assert_eq!(
            admin.priorities[2].data(vars("ha-a")),
            "HAFailover,Reason: manual,Node: ha-a"
        );
        let probe = plan.lookup("ha-probe", "probe").expect("probe exists");
        assert_eq!(probe.priorities[0].data(vars("ha-a")), "HA probe on ha-a");
        assert_eq!(probe.priorities[2].data(vars("ha-a")), "silence/1");
        assert!(plan.lookup("ha-probe", "doesnotexist").is_none());
    }

    #[test]
    fn parses_command_line_specs() {
        let e = parse_exten_spec("ctx,100,answer-hangup:250").expect("valid");
        assert_eq!(e.priorities.len(), 4);
        let e = parse_exten_spec("ha-admin,*998,userevent:HAFailover:100:Reason=manual;Node=x")
            .expect("valid");
        assert_eq!(
            e.priorities[2].data(vars("n")),
            "HAFailover,Reason: manual,Node: x"
        );
        assert!(parse_exten_spec("ctx,100").is_err());
        assert!(parse_exten_spec("ctx,100,answer-hangup:abc").is_err());
        assert!(parse_exten_spec("ctx,100,dance").is_err());
    }
}
