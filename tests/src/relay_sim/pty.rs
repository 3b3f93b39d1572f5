//! A serial device simulator serving the master end of a pty pair on its own thread.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

use super::{Behaviour, SimState};

/// A device protocol: bytes in, reply bytes out, acting on the shared state.
pub trait SerialProtocol: Send + 'static {
    /// Bytes the device answers garbage with (depends on what confuses the driver most).
    fn garbage(&self) -> Vec<u8> {
        b"\x00\xfe?!GARBAGE\n\r>".to_vec()
    }
    /// Feed received bytes; returns what the device sends back (possibly nothing).
    fn on_bytes(&mut self, bytes: &[u8], state: &mut SimState) -> Vec<u8>;
}

/// A simulated serial relay on a pty pair.
#[derive(Debug)]
pub struct PtyRelaySim {
    path: PathBuf,
    state: Arc<Mutex<SimState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PtyRelaySim {
    /// Create the pty pair and start serving `protocol` on it.
    pub fn start(mut protocol: impl SerialProtocol) -> std::io::Result<Self> {
        let (mut master, slave) = TTYPort::pair().map_err(std::io::Error::other)?;
        let path = slave
            .name()
            .map(PathBuf::from)
            .ok_or_else(|| std::io::Error::other("pty slave has no name"))?;
        master
            .set_timeout(Duration::from_millis(20))
            .map_err(std::io::Error::other)?;
        let state = Arc::new(Mutex::new(SimState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                // The slave end stays open here so the pty lives while the driver reopens it.
                let _slave = slave;
                let mut buf = [0u8; 512];
                while !stop.load(Ordering::SeqCst) {
                    let n = match master.read(&mut buf) {
                        Ok(0) => continue,
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                        Err(_) => continue,
                    };
                    let reply = {
                        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                        match st.behaviour {
                            Behaviour::Normal => protocol.on_bytes(&buf[..n], &mut st),
                            Behaviour::Garbage => protocol.garbage(),
                            Behaviour::Silent => Vec::new(),
                        }
                    };
                    if !reply.is_empty() {
                        let _ = master.write_all(&reply);
                        let _ = master.flush();
                    }
                }
                // Dropping master and slave here closes the pty: the driver sees a hang-up.
            })
        };
        Ok(PtyRelaySim {
            path,
            state,
            stop,
            thread: Some(thread),
        })
    }

    /// The device path a driver opens.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn state(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.state().behaviour = behaviour;
    }

    /// Close both ends of the pty, like pulling the USB cable.
    pub fn unplug(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PtyRelaySim {
    fn drop(&mut self) {
        self.unplug();
    }
}
