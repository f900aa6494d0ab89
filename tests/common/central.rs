//! A real `checkpoint-central` started by a test: its configuration (seed URLs, the test's
//! PostgreSQL, the ledger root, a loopback API with an owner-only token) in a temporary
//! directory, its log kept beside it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The operator token the service is configured with.
pub const TOKEN: &str = "operator-token-for-tests-0123456789";

/// A running `checkpoint-central`, killed when dropped.
pub struct CentralService {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl CentralService {
    /// Starts the service consuming `EVENTS` from `seeds` (comma-separated) into PostgreSQL on
    /// loopback `pg_port`, verifying with the ledger whose checkpoints `root` (hex) signs.
    pub fn start(seeds: &str, pg_port: u16, root: &str, batch_max: u32) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let token = dir.path().join("operator.token");
        std::fs::write(&token, TOKEN).expect("write token");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let http = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port");
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config/stay-rules.toml");
        let config = dir.path().join("central.toml");
        let text = format!(
            "data_dir = \"{data}\"\n[nats]\nurl = \"{seeds}\"\ndurable = \"central\"\nbatch_max = {batch_max}\n\
             [postgres]\nhost = \"127.0.0.1\"\nport = {pg_port}\nuser = \"postgres\"\ndbname = \"postgres\"\n\
             [ledger]\nroots = [\"{root}\"]\nroot_threshold = 1\n\
             [http]\nlisten = \"{http}\"\ntoken_file = \"operator.token\"\n\
             [stay]\nrules = \"{rules}\"\n",
            data = dir.path().join("state").display(),
            rules = rules.display(),
        );
        std::fs::write(&config, text).expect("write config");
        let log = std::fs::File::create(dir.path().join("central.log")).expect("log file");
        // A copy of the binary may be named (a measurement run whose target directory other
        // builds replace meanwhile).
        let program = std::env::var_os("CHECKPOINT_CENTRAL_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_checkpoint-central").into());
        let child = Command::new(program)
            .arg("--config")
            .arg(&config)
            .args(["--log-format", "json"])
            .env("CHECKPOINTD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start checkpoint-central");
        Self {
            dir,
            child: Some(child),
        }
    }

    /// The service's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("central.log")
    }
}

impl Drop for CentralService {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
