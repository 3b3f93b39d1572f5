//! The AstDB writer's AMI connections: the contact mirror's and the call count a phone's failover request hears.
//!
//! Writing the AstDB (`DBPut`, `DBDel`) needs the AMI `system` write class, which astha's main
//! user must not hold next to `originate` (together they would run shell commands). So the
//! writes go through a user of their own, `[astdb] ami_user` (the shipped `[astha-contacts]` of
//! `manager_astha.conf`), which may write the AstDB and do nothing else.

use std::time::Duration;

use ami_client::{Action, Client, ClientConfig, EventMask};

use crate::config::{Config, TargetRole};

/// The AstDB writer's connection settings for the Asterisk of `role`, hearing `events`.
pub fn client_config(config: &Config, role: TargetRole, events: EventMask) -> ClientConfig {
    let target = config.target(role);
    let mut ami = ClientConfig::new(
        target.ami.address.to_string(),
        config.daemon.astdb.ami_user.clone(),
        target.ami.secret.expose(),
    );
    ami.server_name = format!("{} (astdb)", target.side);
    ami.events = events;
    ami.connect_timeout = Duration::from_secs(2);
    ami.reconnect_backoff_max = Duration::from_secs(5);
    ami.action_id_prefix = "astha-astdb-".into();
    ami
}

/// Sends `action` and turns a refusal into an error naming it.
pub async fn expect_success(client: &Client, action: Action) -> Result<(), String> {
    let name = action.name().to_owned();
    let response = client.send(action).await.map_err(|e| e.to_string())?;
    if response.is_success() {
        Ok(())
    } else {
        Err(format!(
            "{name} refused: {}",
            response.message().unwrap_or("no message")
        ))
    }
}

/// Writes one AstDB entry over a connection of its own, opened for it and closed after it
/// (a phone's failover request is rare: no connection is kept for it), within `deadline`.
pub async fn put_once(
    config: ClientConfig,
    family: &str,
    key: &str,
    value: &str,
    deadline: Duration,
) -> Result<(), String> {
    let client = Client::connect(config);
    let put = async {
        client
            .wait_logged_in(deadline)
            .await
            .map_err(|e| e.to_string())?;
        let action = Action::new("DBPut")
            .header("Family", family)
            .header("Key", key)
            .header("Val", value)
            .timeout(deadline);
        expect_success(&client, action).await
    };
    let outcome = put.await;
    client.close().await;
    outcome
}
