//! A private PC/SC stack for tests, with no hardware: pcscd in its own mount namespace (so its
//! socket is a temporary file) with vsmartcard's vpcd driver in reversed mode, whose two slots
//! connect to two simulated chips listening on loopback. Needs root (the mount namespace) and
//! Debian's `pcscd` and `vsmartcard-vpcd`, which `scripts/test` installs.
#![allow(dead_code)]

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use checkpointd::adapters::chip_sim::{ChipProfile, SimulatedChip, vpcd};

pub const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
pub const INSTALL_HINT: &str = "install Debian's pcscd and vsmartcard-vpcd (scripts/test does: apt-get install pcscd vsmartcard-vpcd libpcsclite-dev)";
/// The reader name of vpcd's slot 0 (slot 1 is `Virtual PCD 00 01`).
pub const SLOT0: &str = "Virtual PCD 00 00";
pub const SLOT1: &str = "Virtual PCD 00 01";

/// A private pcscd whose vpcd reader talks to two cards (vpcd has two slots).
pub struct Stack {
    pcscd: Child,
    /// A card emulator of another implementation, when the test started one.
    card: Option<Child>,
    /// pcscd's socket: clients find it through `PCSCLITE_CSOCK_NAME`.
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Ends only the processes this test started, by their pids.
        let _ = self.pcscd.kill();
        let _ = self.pcscd.wait();
        if let Some(card) = &mut self.card {
            let _ = card.kill();
            let _ = card.wait();
        }
    }
}

pub fn require_tools() {
    for tool in ["pcscd", "unshare"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{tool} not found: {INSTALL_HINT}");
    }
    assert!(
        Path::new(VPCD_DRIVER).exists(),
        "{VPCD_DRIVER} missing: {INSTALL_HINT}"
    );
}

/// Two listeners on consecutive loopback ports (vpcd's slots 0 and 1).
pub fn slot_listeners() -> (TcpListener, TcpListener) {
    for _ in 0..50 {
        let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = first.local_addr().expect("addr").port();
        if let Some(next) = port.checked_add(1)
            && let Ok(second) = TcpListener::bind((Ipv4Addr::LOCALHOST, next))
        {
            return (first, second);
        }
    }
    panic!("no two consecutive free loopback ports");
}

/// Serves a simulated chip on one vpcd slot.
pub fn serve(listener: TcpListener, profile: ChipProfile) {
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let _ = vpcd::serve_stream(&mut SimulatedChip::new(profile), stream);
        }
    });
}

/// The stack with `slot0` in slot 0 and `slot1` in slot 1.
pub fn start(slot0: ChipProfile, slot1: ChipProfile) -> Stack {
    require_tools();
    let (first, second) = slot_listeners();
    let port = first.local_addr().expect("addr").port();
    serve(first, slot0);
    serve(second, slot1);
    start_pcscd(port, None)
}

/// A private pcscd whose vpcd connects to the cards listening on 127.0.0.1 at `port` (slot 0)
/// and `port + 1` (slot 1); `card`, another implementation's emulator serving one of them, is
/// ended with the stack.
pub fn start_pcscd(port: u16, card: Option<Child>) -> Stack {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("reader.conf.d");
    let run = dir.path().join("run");
    std::fs::create_dir_all(&conf).expect("conf dir");
    std::fs::create_dir_all(&run).expect("run dir");
    // Reversed mode: vpcd connects to the cards on 127.0.0.1 rather than listening on all
    // addresses.
    std::fs::write(
        conf.join("vpcd"),
        format!("FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME 127.0.0.1:0x{port:X}\nLIBPATH {VPCD_DRIVER}\nCHANNELID 0x{port:X}\n"),
    )
    .expect("reader.conf");
    std::fs::create_dir_all("/run/pcscd").expect("/run/pcscd (the test needs root)");
    let script = format!(
        "mount --bind '{}' /run/pcscd && exec pcscd -f -c '{}'",
        run.display(),
        conf.display()
    );
    let pcscd = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let pcscd = match pcscd {
        Ok(pcscd) => pcscd,
        Err(e) => {
            if let Some(mut card) = card {
                let _ = card.kill();
                let _ = card.wait();
            }
            panic!("cannot start pcscd ({e}): {INSTALL_HINT}");
        }
    };
    let stack = Stack {
        pcscd,
        card,
        socket: run.join("pcscd.comm"),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stack.socket.exists() {
        assert!(Instant::now() < deadline, "pcscd did not create its socket");
        std::thread::sleep(Duration::from_millis(50));
    }
    stack
}

/// Runs `command` as a client of the stack, killed if it runs over 30 s (a wedge); returns
/// its exit code, stdout and stderr.
pub fn run_client(stack: &Stack, command: &mut Command) -> (i32, String, String) {
    let mut child = command
        .env("PCSCLITE_CSOCK_NAME", &stack.socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("client runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("PC/SC client hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
