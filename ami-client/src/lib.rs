//! `ami-client`: the Asterisk Manager Interface protocol (sans-IO core) and a tokio driver.
#![forbid(unsafe_code)]
