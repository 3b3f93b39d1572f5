//! The contact mirror: the standby's Asterisk keeps the PJSIP contacts the phones registered on the active's, so a phone is called through the new active right after a takeover, without re-registering.
//!
//! res_pjsip keeps every registered contact in the astdb (sorcery's `astdb` backend, family
//! `registrar`, key `contact/<aor>;@<hash>`, the contact's fields as JSON) and reads it from there
//! on each lookup, with no cache: a contact written into the standby's astdb is dialled by the
//! standby's `Dial(PJSIP/<endpoint>)` at once. So while this node is the standby of an active
//! peer, it copies the active's `registrar/contact` tree into its own Asterisk with AMI
//! `DBGetTree` (read on the active) and `DBPut`/`DBDel` (on the standby): at once when the
//! active reports a contact change (`ContactStatus` event: created, removed, updated), and
//! every [`RESYNC_EVERY`] in full, which repairs whatever an event loss or a restart missed.
//! The standby ends up with exactly the active's contacts; a phone registers through the
//! floating IP, so the new active reaches it from that same address (`transport =
//! astha-floating` on the endpoint). The expiry in each contact is absolute, so a mirrored
//! contact expires on the standby when it would have on the active.
//!
//! In cold standby there is no standby Asterisk to write to: the astdb on DRBD carries the
//! contacts to the new active (README), and the mirror does not run.
//!
//! Contacts over TCP/TLS or WebSocket are left out (`prune_on_boot`): they are bound to a
//! connection that ended with the old active, so the phone has to reconnect anyway.
//!
//! The mirror logs in with the AstDB writer's AMI user (`[astdb] ami_user`, the shipped
//! `[astha-contacts]`), which may write the astdb (`system`) and do nothing else, over its own
//! connections: a long contact list never queues behind or ahead of the probes' actions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ami_client::{Action, Client, EventMask, RecvError};
use tokio::sync::watch;

use crate::actuate::config::StandbyMode;
use crate::config::{Config, TargetRole};

use super::astdb::expect_success;
use crate::status::ContactsStatus;

/// A full resync this often, besides the one each contact event triggers.
pub const RESYNC_EVERY: Duration = Duration::from_secs(5);
/// Events that arrive together (a phone's REGISTER can create and update a contact) make one
/// sync: it starts this long after the first of them.
const EVENT_SETTLE: Duration = Duration::from_millis(20);
/// One AMI action's deadline: a hung Asterisk fails a sync, it never stalls the mirror.
const ACTION_DEADLINE: Duration = Duration::from_secs(5);
/// The astdb family and key prefix of res_pjsip's contacts (`res_pjsip/location.c`).
const FAMILY: &str = "registrar";
const PREFIX: &str = "contact";

/// The running mirror: the daemon says when this node should mirror and reads its status.
#[derive(Debug)]
pub struct ContactMirror {
    mirroring: watch::Sender<bool>,
    state: Arc<Mutex<MirrorState>>,
}

#[derive(Debug, Default)]
struct MirrorState {
    contacts: Option<u32>,
    last_sync: Option<Instant>,
    error: Option<String>,
    syncs: u64,
    sync_failures: u64,
    written: u64,
    removed: u64,
}

impl ContactMirror {
    /// Starts the mirror's connections and task, or `None` when `[contacts] mirror` is off or
    /// in cold standby (the standby's Asterisk is not running; the astdb on DRBD carries the
    /// contacts to the new active instead).
    pub fn start(config: &Config) -> Option<ContactMirror> {
        let contacts = &config.daemon.contacts;
        if !contacts.mirror || config.daemon.actuate.asterisk.mode == StandbyMode::Cold {
            return None;
        }
        let connect = |role: TargetRole, events: EventMask| {
            let mut ami = super::astdb::client_config(config, role, events);
            ami.server_name = format!("{} (contacts)", config.target(role).side);
            ami.action_timeout = ACTION_DEADLINE;
            ami.action_id_prefix = "astha-contacts-".into();
            Client::connect(ami)
        };
        // The local (standby's) Asterisk is only written to; the peer's is read and heard.
        let local = connect(TargetRole::Local, EventMask::Off);
        let peer = connect(TargetRole::Peer, EventMask::Classes(vec!["system".into()]));
        let (mirroring, wanted) = watch::channel(false);
        let state = Arc::new(Mutex::new(MirrorState::default()));
        tokio::spawn(run(local, peer, wanted, Arc::clone(&state)));
        Some(ContactMirror { mirroring, state })
    }

    /// Tells the mirror whether this node is now the standby of an active peer (the only time
    /// it copies anything). A change to mirroring syncs at once.
    pub fn set_mirroring(&self, on: bool) {
        self.mirroring.send_if_modified(|now| {
            let changed = *now != on;
            *now = on;
            changed
        });
    }

    pub fn status(&self) -> ContactsStatus {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        ContactsStatus {
            mirroring: *self.mirroring.borrow(),
            contacts: s.contacts,
            last_sync_age_ms: s
                .last_sync
                .map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)),
            error: s.error.clone(),
            syncs: s.syncs,
            sync_failures: s.sync_failures,
            written: s.written,
            removed: s.removed,
        }
    }
}

/// The mirror's task: syncs on every contact event of the peer and every [`RESYNC_EVERY`],
/// while mirroring is wanted.
async fn run(
    local: Client,
    peer: Client,
    mut wanted: watch::Receiver<bool>,
    state: Arc<Mutex<MirrorState>>,
) {
    let mut events = peer.subscribe();
    let mut resync = tokio::time::interval(RESYNC_EVERY);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = wanted.changed() => {
                if changed.is_err() {
                    return; // the daemon is gone
                }
            }
            _ = resync.tick() => {}
            event = events.recv() => match event {
                Ok(e) if e.name().eq_ignore_ascii_case("ContactStatus") => {
                    tokio::time::sleep(EVENT_SETTLE).await;
                    while events.try_recv().is_some() {}
                }
                Ok(_) => continue,
                // A lost event is repaired by the full sync that follows right away.
                Err(RecvError::Lagged { .. }) => {}
                Err(RecvError::Closed) => return,
            },
        }
        if !*wanted.borrow() {
            continue;
        }
        let outcome = sync_once(&peer, &local).await;
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.syncs += 1;
        match outcome {
            Ok(done) => {
                if s.error.take().is_some() {
                    tracing::info!("contact mirror syncing again");
                }
                s.contacts = Some(done.contacts);
                s.last_sync = Some(Instant::now());
                s.written += done.written;
                s.removed += done.removed;
                if done.written + done.removed > 0 {
                    tracing::debug!(
                        contacts = done.contacts,
                        written = done.written,
                        removed = done.removed,
                        "contacts mirrored"
                    );
                }
            }
            Err(e) => {
                s.sync_failures += 1;
                if s.error.as_deref() != Some(e.as_str()) {
                    tracing::warn!("contact mirror: {e}");
                }
                s.error = Some(e);
            }
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SyncDone {
    contacts: u32,
    written: u64,
    removed: u64,
}

/// Copies the active's contact tree into the standby's: reads both, then writes the
/// differences. Nothing is removed unless both lists were read completely.
async fn sync_once(active: &Client, standby: &Client) -> Result<SyncDone, String> {
    let from = read_contacts(active)
        .await
        .map_err(|e| format!("reading the active's contacts: {e}"))?;
    let into = read_contacts(standby)
        .await
        .map_err(|e| format!("reading this node's contacts: {e}"))?;
    let plan = plan(&from, &into);
    let mut done = SyncDone {
        contacts: u32::try_from(plan.kept).unwrap_or(u32::MAX),
        written: 0,
        removed: 0,
    };
    for (key, value) in &plan.put {
        let action = Action::new("DBPut")
            .header("Family", FAMILY)
            .header("Key", format!("{PREFIX}/{key}"))
            .header("Val", value);
        expect_success(standby, action).await?;
        done.written += 1;
    }
    for key in &plan.delete {
        let action = Action::new("DBDel")
            .header("Family", FAMILY)
            .header("Key", format!("{PREFIX}/{key}"));
        expect_success(standby, action).await?;
        done.removed += 1;
    }
    Ok(done)
}

/// The contacts in one Asterisk's astdb: contact id → the stored JSON.
async fn read_contacts(client: &Client) -> Result<BTreeMap<String, String>, String> {
    let list = client
        .send_list(
            Action::new("DBGetTree")
                .header("Family", FAMILY)
                .header("Key", PREFIX),
        )
        .await
        .map_err(|e| e.to_string())?;
    if !list.response.is_success() {
        let message = list.response.message().unwrap_or("no message");
        // An empty tree is an error to DBGetTree ("Database entry not found").
        if message.contains("not found") {
            return Ok(BTreeMap::new());
        }
        return Err(format!("DBGetTree refused: {message}"));
    }
    Ok(list
        .items
        .iter()
        .filter_map(|item| contact_entry(item.get("Key")?, item.get("Val")?))
        .collect())
}

/// A `DBGetTreeResponse` item's full key (`/registrar/contact/<id>`) and value, as the contact
/// id and its JSON; `None` for anything else.
fn contact_entry(key: &str, value: &str) -> Option<(String, String)> {
    let id = key
        .strip_prefix('/')?
        .strip_prefix(FAMILY)?
        .strip_prefix('/')?
        .strip_prefix(PREFIX)?
        .strip_prefix('/')?;
    (!id.is_empty()).then(|| (id.to_owned(), value.to_owned()))
}

/// What a sync writes into the standby's astdb.
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    /// New or changed contacts, with the active's JSON.
    put: Vec<(String, String)>,
    /// Contacts the active no longer has (or that cannot be reached from another server).
    delete: Vec<String>,
    /// Contacts the standby holds once the plan is carried out.
    kept: usize,
}

fn plan(active: &BTreeMap<String, String>, standby: &BTreeMap<String, String>) -> Plan {
    let wanted: BTreeMap<&String, &String> = active
        .iter()
        .filter(|(_, json)| survives_a_move(json))
        .collect();
    Plan {
        put: wanted
            .iter()
            .filter(|(id, json)| standby.get(**id) != Some(**json))
            .map(|(id, json)| ((*id).clone(), (*json).clone()))
            .collect(),
        delete: standby
            .keys()
            .filter(|id| !wanted.contains_key(id))
            .cloned()
            .collect(),
        kept: wanted.len(),
    }
}

/// Whether a contact can be reached from the other server: not one that res_pjsip itself
/// prunes at a restart because it lives on a connection (TCP, TLS, WebSocket). A value that is
/// not the JSON res_pjsip writes is left out too: the standby's Asterisk could not read it.
fn survives_a_move(json: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(fields)) => !fields
            .get("prune_on_boot")
            .and_then(|v| v.as_str())
            .is_some_and(|v| v.eq_ignore_ascii_case("yes") || v.eq_ignore_ascii_case("true")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A contact as res_pjsip 22 stores it (fields abridged).
    fn contact(uri: &str, prune: &str) -> String {
        format!(
            r#"{{"qualify_timeout":"3.000000","expiration_time":"1764633600","uri":"{uri}","endpoint":"phone1","prune_on_boot":"{prune}","via_addr":"10.0.0.10","reg_server":"ha-a"}}"#
        )
    }

    fn map(entries: &[(&str, String)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn only_registrar_contacts_are_read() {
        assert_eq!(
            contact_entry("/registrar/contact/phone1;@8a1b", "{}"),
            Some(("phone1;@8a1b".to_owned(), "{}".to_owned()))
        );
        assert_eq!(contact_entry("/registrar/contact/", "{}"), None);
        assert_eq!(contact_entry("/registrar/other/x", "{}"), None);
        assert_eq!(contact_entry("/registrarx/contact/x", "{}"), None);
        assert_eq!(contact_entry("registrar/contact/x", "{}"), None);
    }

    #[test]
    fn new_and_changed_contacts_are_written_and_gone_ones_removed() {
        let udp = contact("sip:phone1@10.0.0.10:5060", "no");
        let moved = contact("sip:phone2@10.0.0.11:5062", "no");
        let active = map(&[
            ("phone1;@a", udp.clone()),
            ("phone2;@b", moved.clone()),
            ("phone3;@c", contact("sip:phone3@10.0.0.12", "no")),
        ]);
        let standby = map(&[
            ("phone1;@a", udp.clone()),
            ("phone2;@b", contact("sip:phone2@10.0.0.11:5060", "no")),
            ("phone9;@z", contact("sip:phone9@10.0.0.19", "no")),
        ]);
        let plan = plan(&active, &standby);
        assert_eq!(
            plan.put,
            vec![
                ("phone2;@b".to_owned(), moved),
                (
                    "phone3;@c".to_owned(),
                    contact("sip:phone3@10.0.0.12", "no")
                ),
            ]
        );
        assert_eq!(plan.delete, vec!["phone9;@z".to_owned()]);
        assert_eq!(plan.kept, 3);
        assert_eq!(self::plan(&active, &active).put, Vec::new());
    }

    #[test]
    fn connection_bound_and_unreadable_contacts_are_not_mirrored() {
        let active = map(&[
            ("tcp;@a", contact("sip:tcp@10.0.0.10;transport=tcp", "yes")),
            ("garbage;@b", "not json".to_owned()),
            ("udp;@c", contact("sip:udp@10.0.0.10", "no")),
        ]);
        let standby = map(&[("tcp;@a", contact("sip:tcp@10.0.0.10;transport=tcp", "yes"))]);
        let plan = plan(&active, &standby);
        assert_eq!(
            plan.put.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["udp;@c"]
        );
        assert_eq!(plan.delete, vec!["tcp;@a".to_owned()]);
        assert_eq!(plan.kept, 1);
    }
}
