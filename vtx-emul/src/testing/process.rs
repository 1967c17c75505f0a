//! Processes for tests: children that are always reaped, a test body re-run in a
//! process of its own (so process-wide measures see only that test) or inside a fresh
//! network namespace, and the interpreters and commands tests need from the system.
//!
//! Nothing here skips: a missing command or privilege panics with the package or
//! capability to install or grant (`scripts/test` installs every package).

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

/// The environment variable that tells a re-run test binary which test it runs
/// isolated, so the body runs instead of re-spawning.
const ISOLATED: &str = "VTX_TEST_ISOLATED";

/// A child process that is resumed, killed and reaped when dropped, however the test
/// ends.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Spawns `cmd`.
    pub fn spawn(cmd: &mut Command) -> ChildGuard {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        ChildGuard(child)
    }

    /// Sends a signal (`libc::SIGSTOP`, `libc::SIGKILL`, ...).
    pub fn signal(&self, sig: i32) {
        let pid = self.0.id() as libc::pid_t;
        // SAFETY: kill(2) with a pid we spawned and have not reaped yet.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Waits for the child to exit on its own (dropping the guard after is harmless).
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.0.wait().unwrap_or_else(|e| panic!("wait: {e}"))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // SAFETY: as in `signal`; errors (already exited) do not matter here.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGCONT) };
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `PATH` with the system directories (`/usr/sbin`, `/sbin`) that hold `ip` and `nft`
/// on Debian, which a non-login shell's `PATH` may lack.
pub fn system_path() -> String {
    let mut path = std::env::var("PATH").unwrap_or_default();
    for dir in ["/usr/local/sbin", "/usr/sbin", "/sbin"] {
        if !path.split(':').any(|p| p == dir) {
            if !path.is_empty() {
                path.push(':');
            }
            path.push_str(dir);
        }
    }
    path
}

/// Runs a shell command (with [`system_path`]), panicking with its output if it fails.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .env("PATH", system_path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
    assert!(
        out.status.success(),
        "`{cmd}` failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Panics unless `command` is on the [`system_path`], naming the Debian package.
pub fn require_command(command: &str, package: &str) {
    let found =
        std::env::split_paths(OsStr::new(&system_path())).any(|dir| dir.join(command).is_file());
    assert!(
        found,
        "`{command}` is missing: install the Debian package `{package}` (scripts/test does)"
    );
}

/// Whether this process runs with root privileges.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// How [`isolate`] runs a test's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// In a child process of its own.
    Process,
    /// In a child process inside a fresh network namespace (`unshare -n`) with only
    /// loopback, brought up. Needs root, or passwordless `sudo`.
    NetNamespace,
    /// As [`Isolation::NetNamespace`], in a mount namespace of its own as well
    /// (`unshare -n -m`), so the test may bind-mount over system files
    /// (`/etc/resolv.conf`) without touching the machine's.
    NetMountNamespace,
}

/// Runs the calling test's body isolated. Call it first in the test, with the test's
/// own name:
///
/// ```no_run
/// # use vtx_emul::testing::process::{isolate, Isolation};
/// #[test]
/// fn partition() {
///     if !isolate("partition", Isolation::NetNamespace) {
///         return; // the parent: the child ran the body and passed
///     }
///     // the body, in the child
/// }
/// ```
///
/// In the parent it re-runs the test binary on that one test, waits, prints the
/// child's output and panics if the child failed; it returns `false`. In the child it
/// returns `true`.
pub fn isolate(test: &str, how: Isolation) -> bool {
    let netns = matches!(how, Isolation::NetNamespace | Isolation::NetMountNamespace);
    if std::env::var(ISOLATED).is_ok_and(|t| t == test) {
        if netns {
            sh("ip link set lo up");
        }
        return true;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let mut cmd = match how {
        Isolation::Process => Command::new(&exe),
        Isolation::NetNamespace | Isolation::NetMountNamespace => {
            require_command("unshare", "util-linux");
            require_command("ip", "iproute2");
            let mut c = if is_root() {
                Command::new("unshare")
            } else {
                require_command("sudo", "sudo");
                let mut c = Command::new("sudo");
                c.args(["-n", "--preserve-env", "unshare"]);
                c
            };
            c.arg("-n");
            if how == Isolation::NetMountNamespace {
                c.arg("-m");
            }
            c.arg("--").arg(&exe);
            c
        }
    };
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ISOLATED, test)
        .env("PATH", system_path())
        .stdin(Stdio::null());
    let out: Output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    if netns && !out.status.success() && stderr.contains("unshare") {
        assert!(
            !stderr.contains("Operation not permitted") && !stderr.contains("a password"),
            "`{test}` needs a network namespace: run as root (CAP_SYS_ADMIN) or with \
             passwordless sudo; unshare said: {stderr}"
        );
    }
    assert!(
        out.status.success(),
        "`{test}` failed in its isolated process ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    let ran = String::from_utf8_lossy(&out.stdout);
    assert!(
        ran.contains("1 passed"),
        "`{test}` did not run in its isolated process: {ran}"
    );
    false
}

/// Starts socat with `args`, whose first address listens on port 0 (`TCP-LISTEN:0,...`,
/// `SCTP-LISTEN:0,...`); returns it with the port it picked, read from its
/// `listening on` notice (`-d -d`), so no port is chosen before it is bound.
pub fn socat_listening(args: &[String]) -> (ChildGuard, u16) {
    require_command("socat", "socat");
    let mut child = ChildGuard::spawn(
        Command::new("socat")
            .args(["-d", "-d"])
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let stderr = child
        .0
        .stderr
        .take()
        .unwrap_or_else(|| panic!("socat's stderr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(addr) = line.split(" listening on AF=").nth(1) {
                let _ = tx.send(addr.rsplit(':').next().unwrap_or("").parse::<u16>());
            }
        }
    });
    let port = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("socat {args:?} did not say where it listens"))
        .unwrap_or_else(|e| panic!("socat's port: {e}"));
    (child, port)
}

/// A Python interpreter that can `import zmq` (pyzmq): `$VTX_PYTHON` if set, else
/// `python3` on `PATH`, else Debian's `/usr/bin/python3` (with `python3-zmq`, which
/// `scripts/test` installs).
pub fn python_with_zmq() -> PathBuf {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("VTX_PYTHON") {
        candidates.push(p.into());
    }
    candidates.push("python3".into());
    candidates.push("/usr/bin/python3".into());
    for p in &candidates {
        let ok = Command::new(p)
            .args(["-c", "import zmq"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return p.clone();
        }
    }
    panic!(
        "no Python with pyzmq among {candidates:?}: install Debian's `python3-zmq` \
         (scripts/test does) or point VTX_PYTHON at an interpreter that has pyzmq"
    );
}
