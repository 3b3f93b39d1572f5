//! astha: the sidecar library behind the `astha` binary (probes, peer link, decision core, actuators, control API).
