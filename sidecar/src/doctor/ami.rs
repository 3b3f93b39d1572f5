//! Both Asterisks over AMI: each configured user logs in from this node, and each configured probe gets a meaningful answer (the same probes `astha probe` and the daemon run).
//!
//! A refused login is told apart by cause: nothing listens (connection refused), nothing
//! answers (host down, firewall), connected but silent (a hung Asterisk), or the login itself
//! refused. Asterisk answers a login it refuses for the user's ACL (`permit`) exactly as one
//! with a wrong secret (`manager.c`: both are "Authentication failed", after the same delay),
//! so the doctor asks the other Asterisk of the pair with the same user and secret (the
//! shipped `manager_astha.conf` is the same file on both servers): accepted there, the refusal
//! is this node's address missing from the `permit` lines; refused there too, the secret (or
//! the user) is wrong.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ami_client::{Client, ClientConfig, ConnectionState, EventMask};

use crate::actuate::config::StandbyMode;
use crate::config::{AsteriskTarget, Config, Secret, TargetRole};
use crate::probe::oneshot::{run_once, run_once_without_ami, ProbeLine, NOT_RUN};
use crate::probe::{ProbeKind, TargetProbes};
use crate::status::StatusReport;

use super::{Check, Status};

/// How long a TCP connect to an AMI port may take (a LAN answers in milliseconds).
const CONNECT_DEADLINE: Duration = Duration::from_millis(1500);
/// How long the login may take: Asterisk delays every refused login by one second.
const LOGIN_DEADLINE: Duration = Duration::from_secs(3);
/// The whole of one Asterisk's checks (connect, logins, the probes with the test call).
const TARGET_DEADLINE: Duration = Duration::from_secs(7);

/// Why a login did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginFailure {
    #[error("cannot resolve {address}: {reason}")]
    Unresolved { address: String, reason: String },
    #[error("connection to {address} refused: no AMI listens there")]
    Refused { address: SocketAddr },
    #[error("no answer from {address} within {} ms: host down, or a firewall drops AMI", .after.as_millis())]
    NoAnswer {
        address: SocketAddr,
        after: Duration,
    },
    #[error("cannot reach {address}: {reason}")]
    Unreachable { address: SocketAddr, reason: String },
    #[error("connected to {address}, but no login answer within {} ms: Asterisk hung or overloaded", .after.as_millis())]
    Hung {
        address: SocketAddr,
        after: Duration,
    },
    #[error("Asterisk at {address} refused the login of `{user}` from {source_ip} ({message})")]
    Rejected {
        address: SocketAddr,
        user: String,
        message: String,
        /// This node's address as that Asterisk sees it (what its `permit` must allow).
        source_ip: IpAddr,
    },
}

/// Logs in once as `user` and logs out again.
pub async fn login(address: &str, user: &str, secret: &Secret) -> Result<(), LoginFailure> {
    let resolved = tokio::net::lookup_host(address)
        .await
        .map_err(|e| e.to_string())
        .and_then(|mut a| a.next().ok_or_else(|| "no address".to_owned()))
        .map_err(|reason| LoginFailure::Unresolved {
            address: address.to_owned(),
            reason,
        })?;
    // A TCP connect of our own first: it tells "nothing listens" from "nothing answers" by the
    // socket error (the AMI client keeps only a message), and gives the source address.
    let source_ip = match tokio::time::timeout(
        CONNECT_DEADLINE,
        tokio::net::TcpStream::connect(resolved),
    )
    .await
    {
        Err(_) => {
            return Err(LoginFailure::NoAnswer {
                address: resolved,
                after: CONNECT_DEADLINE,
            })
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(LoginFailure::Refused { address: resolved })
        }
        Ok(Err(e)) => {
            return Err(LoginFailure::Unreachable {
                address: resolved,
                reason: e.to_string(),
            })
        }
        Ok(Ok(stream)) => {
            stream
                .local_addr()
                .map(|a| a.ip())
                .map_err(|e| LoginFailure::Unreachable {
                    address: resolved,
                    reason: e.to_string(),
                })?
        }
    };
    let mut config = ClientConfig::new(resolved.to_string(), user.to_owned(), secret.expose());
    config.server_name = format!("doctor {resolved}");
    config.events = EventMask::Off;
    config.ping_interval = Duration::ZERO;
    config.connect_timeout = CONNECT_DEADLINE;
    config.action_id_prefix = "astha-doctor-".into();
    let client = Client::connect(config);
    let result = client.wait_logged_in(LOGIN_DEADLINE).await;
    let state = client.state().borrow().clone();
    client.close().await;
    match (result, state) {
        (Ok(()), _) => Ok(()),
        // The refusal is in the connection's state or, when it closed since, in the error.
        (Err(_), ConnectionState::AuthFailed { message })
        | (Err(ami_client::Error::Authentication { message }), _) => Err(LoginFailure::Rejected {
            address: resolved,
            user: user.to_owned(),
            message,
            source_ip,
        }),
        (Err(_), ConnectionState::Disconnected { reason }) => Err(LoginFailure::Unreachable {
            address: resolved,
            reason,
        }),
        (Err(_), _) => Err(LoginFailure::Hung {
            address: resolved,
            after: LOGIN_DEADLINE,
        }),
    }
}

/// One Asterisk of the pair as the report names it.
struct Target<'a> {
    target: &'a AsteriskTarget,
    /// `local Asterisk (pbx-a)`.
    label: String,
    /// The node it runs on.
    node: &'a str,
}

impl<'a> Target<'a> {
    fn new(config: &'a Config, role: TargetRole) -> Target<'a> {
        let (word, node) = match role {
            TargetRole::Local => ("local", config.node.name.as_str()),
            TargetRole::Peer => ("peer", config.node.peer_name.as_str()),
        };
        Target {
            target: config.target(role),
            label: format!("{word} Asterisk ({node})"),
            node,
        }
    }
}

/// Logins and probes on both Asterisks, at the same time.
pub async fn check(config: &Config, status: Option<&StatusReport>) -> Vec<Check> {
    let (local, peer) = tokio::join!(
        one_target(config, TargetRole::Local, status),
        one_target(config, TargetRole::Peer, status),
    );
    local.into_iter().chain(peer).collect()
}

async fn one_target(
    config: &Config,
    role: TargetRole,
    status: Option<&StatusReport>,
) -> Vec<Check> {
    let me = Target::new(config, role);
    // A cold standby's Asterisk is stopped by design: the daemon says so, and its checks
    // would only fail. They run on the node that is active.
    let word = match role {
        TargetRole::Local => "local",
        TargetRole::Peer => "peer",
    };
    let expected_down = status
        .and_then(|s| s.targets.iter().find(|t| t.target == word))
        .and_then(|t| t.expected_down.clone());
    if let Some(reason) = expected_down {
        return vec![Check::skip(
            me.label.clone(),
            format!("not checked: {reason}"),
        )];
    }
    let label = me.label.clone();
    super::within(&label, TARGET_DEADLINE, async {
        let other = Target::new(config, other_role(role));
        let ami = &me.target.ami;
        let mut checks = Vec::new();
        let main = login(&ami.address.to_string(), &ami.username, &ami.secret).await;
        // In cold standby the standby's Asterisk is stopped by design; without the daemon
        // nothing says which node that is.
        let cold = config.daemon.actuate.asterisk.mode == StandbyMode::Cold;
        if let (true, None, Err(e @ LoginFailure::Refused { .. })) = (cold, status, &main) {
            return vec![Check::warn(
                format!("{} AMI login as {}", me.label, ami.username),
                format!("{e}: in cold standby the standby's Asterisk is stopped by design, and no running daemon says which node is standby"),
                format!("start astha and run `astha doctor` again; if {} is the active node, start its Asterisk", me.node),
            )];
        }
        checks.push(login_check(&me, &other, &ami.username, main.clone()).await);
        // The AstDB writer: the contact mirror writes the standby's AstDB, and a phone failover
        // writes the count it announces into the Asterisk it was dialled on, so both Asterisks
        // must accept it (in cold standby too).
        // Without the mirror a refused writer only costs the count ("sorry" instead of the
        // number, the confirmation still works): a warning, not a failure.
        let astdb_user = &config.daemon.astdb.ami_user;
        let result = login(&ami.address.to_string(), astdb_user, &ami.secret).await;
        let mut astdb = login_check(&me, &other, astdb_user, result).await;
        let mirror = config.daemon.contacts.mirror
            && config.daemon.actuate.asterisk.mode == StandbyMode::Warm;
        if !mirror && astdb.status == Status::Fail {
            astdb.status = Status::Warn;
            astdb.detail.push_str(
                "; without the contact mirror only the phone failover uses this user: the caller hears \"sorry\" instead of the number of calls",
            );
        }
        checks.push(astdb);
        checks.extend(probes(config, &me, main.is_ok()).await);
        checks
    })
    .await
}

fn other_role(role: TargetRole) -> TargetRole {
    match role {
        TargetRole::Local => TargetRole::Peer,
        TargetRole::Peer => TargetRole::Local,
    }
}

/// The line for one user's login, with the cause and the fix when it failed.
async fn login_check(
    me: &Target<'_>,
    other: &Target<'_>,
    user: &str,
    result: Result<(), LoginFailure>,
) -> Check {
    let name = format!("{} AMI login as {user}", me.label);
    let address = &me.target.ami.address;
    let secret_file = me.target.ami.secret_source.to_string();
    let failure = match result {
        Ok(()) => return Check::ok(name, format!("logged in at {address}")),
        Err(failure) => failure,
    };
    let detail = failure.to_string();
    match &failure {
        LoginFailure::Unresolved { .. } => Check::fail(
            name,
            detail,
            format!("fix the AMI address of {} in the configuration, or DNS", me.label),
        ),
        LoginFailure::Refused { .. } => Check::fail(
            name,
            detail,
            format!(
                "start Asterisk on {}; in its manager.conf [general]: `enabled = yes`, `port`/`bindaddr` matching {address}",
                me.node
            ),
        ),
        LoginFailure::NoAnswer { .. } | LoginFailure::Unreachable { .. } => Check::fail(
            name,
            detail,
            format!(
                "check that {} is up and that its firewall lets this node reach TCP {address}",
                me.node
            ),
        ),
        LoginFailure::Hung { .. } => Check::fail(
            name,
            detail,
            format!("see the Asterisk log on {}; restart Asterisk if it stays hung", me.node),
        ),
        LoginFailure::Rejected { source_ip, .. } => {
            let permit = permit_line(*source_ip);
            // Same user and secret on the other Asterisk: the shipped manager file is the same
            // on both servers, so one accepting them means the secret is right.
            let cross = login(
                &other.target.ami.address.to_string(),
                user,
                &me.target.ami.secret,
            )
            .await;
            match cross {
                Ok(()) => Check::fail(
                    name,
                    format!(
                        "{detail}; the same user and secret log in on the {}, so {}'s manager.conf does not permit this node's address",
                        other.label, me.node
                    ),
                    format!(
                        "add `{permit}` to [{user}] in {}'s manager.conf (as dialplan/manager_astha.conf shows), then `asterisk -rx 'manager reload'` there",
                        me.node
                    ),
                ),
                Err(LoginFailure::Rejected { .. }) => Check::fail(
                    name,
                    format!(
                        "{detail}; the {} refuses the same user and secret too: the secret in {secret_file} is not [{user}]'s",
                        other.label
                    ),
                    format!(
                        "put [{user}]'s `secret` from manager.conf (the same on both servers) into {secret_file}, or set it there; then `asterisk -rx 'manager reload'`"
                    ),
                ),
                Err(e) => Check::fail(
                    name,
                    format!(
                        "{detail}; a wrong secret or a missing permit (the {} cannot tell which: {e})",
                        other.label
                    ),
                    format!(
                        "check that {secret_file} holds [{user}]'s `secret` of {}'s manager.conf and that [{user}] has `{permit}`",
                        me.node
                    ),
                ),
            }
        }
    }
}

/// The `permit` line that lets `ip` in.
fn permit_line(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("permit = {v4}/255.255.255.255"),
        IpAddr::V6(v6) => format!("permit = {v6}/128"),
    }
}

/// Every configured probe once, as `astha probe` runs them; without a login only the probes
/// that need none (SIP, ARI).
async fn probes(config: &Config, me: &Target<'_>, logged_in: bool) -> Vec<Check> {
    let backend = TargetProbes::new("doctor", me.target, &config.probes);
    let report = if logged_in {
        match backend.wait_ready(LOGIN_DEADLINE).await {
            Ok(()) => run_once(&backend, &config.probes, backend.enabled()).await,
            Err(e) => {
                run_once_without_ami(
                    &backend,
                    &config.probes,
                    backend.enabled(),
                    e,
                    Duration::ZERO,
                )
                .await
            }
        }
    } else {
        // The login line already says why no AMI probe can run; the others still can.
        let without_ami: Vec<ProbeKind> = backend
            .enabled()
            .iter()
            .copied()
            .filter(|k| !k.uses_ami())
            .collect();
        run_once(&backend, &config.probes, &without_ami).await
    };
    backend.ami().client().close().await;
    report
        .probes
        .iter()
        .map(|p| probe_check(config, me, p))
        .collect()
}

fn kind_of(line: &ProbeLine) -> Option<ProbeKind> {
    ProbeKind::ALL.into_iter().find(|k| k.as_str() == line.kind)
}

/// One probe's line: ok with its latency, or what failed and where to look.
fn probe_check(config: &Config, me: &Target<'_>, line: &ProbeLine) -> Check {
    let name = format!("{} probe {}", me.label, line.kind);
    if line.ok {
        let latency = line
            .latency_ms
            .map(|l| format!("answered in {l:.1} ms"))
            .unwrap_or_else(|| "answered".into());
        return Check::ok(name, latency);
    }
    let error = line.error.clone().unwrap_or_else(|| "failed".into());
    if error == NOT_RUN {
        return Check::skip(name, error);
    }
    let Some(kind) = kind_of(line) else {
        return Check::fail(name, error, "see the Asterisk log");
    };
    let sip = me
        .target
        .sip
        .as_ref()
        .map_or_else(String::new, |s| s.address.to_string());
    let fix = match kind {
        ProbeKind::Ping => format!("see the Asterisk log on {}: it does not answer AMI", me.node),
        ProbeKind::Core => format!(
            "give [{}] the `reporting` class (read and write) as dialplan/manager_astha.conf does; if it has it, the core of {}'s Asterisk is stuck (see its log)",
            me.target.ami.username, me.node
        ),
        ProbeKind::Call => format!(
            "install dialplan/extensions_astha.conf on {} (its [{}] context must run to the HAProbe marker), then `asterisk -rx 'dialplan reload'`; the Asterisk log says which step failed",
            me.node, config.probes.call_context
        ),
        ProbeKind::Spans => format!("check the PSTN span's cabling and alarms on {}", me.node),
        ProbeKind::Sip => format!(
            "load res_pjsip with a UDP transport on {sip} (dialplan/pjsip_astha.conf on {}); the answer codes accepted are [probes] sip_accepted",
            me.node
        ),
        ProbeKind::Ari => format!(
            "enable ARI on {} (http.conf `enabled = yes`, ari.conf user) or remove the ARI endpoint",
            me.node
        ),
    };
    if config.probes.timing(kind).critical {
        Check::fail(name, error, fix)
    } else {
        Check::warn(name, error, fix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permit_line_allows_exactly_this_address() {
        assert_eq!(
            permit_line("10.0.0.1".parse().unwrap()),
            "permit = 10.0.0.1/255.255.255.255"
        );
        assert_eq!(
            permit_line("fd00::1".parse().unwrap()),
            "permit = fd00::1/128"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_a_refused_connection_not_a_bad_secret() {
        // A port that was just free: nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let result = login(&format!("127.0.0.1:{port}"), "astha", &Secret::new("x")).await;
        assert!(
            matches!(result, Err(LoginFailure::Refused { .. })),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn connected_without_a_banner_is_a_hung_asterisk() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let result = login(&address.to_string(), "astha", &Secret::new("x")).await;
        silent.abort();
        assert!(
            matches!(result, Err(LoginFailure::Hung { .. })),
            "{result:?}"
        );
    }
}
