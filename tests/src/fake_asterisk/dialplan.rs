//! The emulated dialplan: contexts, extensions and the applications each priority runs.
//!
//! Only what the call-event generator needs: which applications a `Local/<exten>@<context>`
//! channel runs, in which order, and how long each takes. The defaults reproduce the dialplan
//! the fixtures were captured with (see `tests/fixtures/asterisk-22/README.md`).

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
        }
    }

    /// The application data as Asterisk reports it in `Newexten` (`AppData:`), after
    /// substituting `${SYSTEMNAME}`.
    pub fn data(&self, system_name: &str) -> String {
        match self {
            DialplanApp::NoOp(text) => substitute(text, system_name),
            DialplanApp::Answer | DialplanApp::Echo | DialplanApp::Hangup => String::new(),
            DialplanApp::Playback { file, .. } => file.clone(),
            DialplanApp::Wait(d) => format_seconds(*d),
            DialplanApp::UserEvent { name, headers } => {
                let mut data = name.clone();
                for (k, v) in headers {
                    data.push(',');
                    data.push_str(k);
                    data.push_str(": ");
                    data.push_str(&substitute(v, system_name));
                }
                data
            }
        }
    }
}

/// Replaces `${SYSTEMNAME}` the way the Asterisk dialplan would.
pub fn substitute(text: &str, system_name: &str) -> String {
    text.replace("${SYSTEMNAME}", system_name)
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
}

impl Extension {
    /// An extension with explicit priorities.
    pub fn new(context: &str, exten: &str, priorities: Vec<DialplanApp>) -> Extension {
        Extension {
            context: context.to_owned(),
            exten: exten.to_owned(),
            priorities,
        }
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

    #[test]
    fn captured_dialplan_matches_the_fixture_appdata() {
        let plan = Dialplan::captured(Duration::from_secs(1));
        let admin = plan.lookup("ha-admin", "*999").expect("*999 exists");
        assert_eq!(
            admin.priorities[0].data("ha-a"),
            "Manual failover requested on ha-a"
        );
        assert_eq!(
            admin.priorities[2].data("ha-a"),
            "HAFailover,Reason: manual,Node: ha-a"
        );
        let probe = plan.lookup("ha-probe", "probe").expect("probe exists");
        assert_eq!(probe.priorities[0].data("ha-a"), "HA probe on ha-a");
        assert_eq!(probe.priorities[2].data("ha-a"), "silence/1");
        assert!(plan.lookup("ha-probe", "doesnotexist").is_none());
    }

    #[test]
    fn parses_command_line_specs() {
        let e = parse_exten_spec("ctx,100,answer-hangup:250").expect("valid");
        assert_eq!(e.priorities.len(), 4);
        let e = parse_exten_spec("ha-admin,*998,userevent:HAFailover:100:Reason=manual;Node=x")
            .expect("valid");
        assert_eq!(
            e.priorities[2].data("n"),
            "HAFailover,Reason: manual,Node: x"
        );
        assert!(parse_exten_spec("ctx,100").is_err());
        assert!(parse_exten_spec("ctx,100,answer-hangup:abc").is_err());
        assert!(parse_exten_spec("ctx,100,dance").is_err());
    }
}
