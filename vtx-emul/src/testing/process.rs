//! Processes for tests: children that are always reaped and whose output the test
//! reads, a test body re-run in a process of its own (so process-wide measures see only
//! that test) or inside a fresh network namespace, and the interpreters and commands
//! tests need from the system (a shell, nftables, socat, pyzmq).
//!
//! Nothing here skips: a missing command or privilege panics with the package or
//! capability to install or grant (`scripts/test` installs every package).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use super::wait_until;

/// The environment variable that tells a re-run test binary which test it runs
/// isolated, so the body runs instead of re-spawning.
const ISOLATED: &str = "VTX_TEST_ISOLATED";

/// A child process that is resumed, killed and reaped when dropped, however the test
/// ends. When its stdout is piped, the test reads it through the guard.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    stdout: Option<BufReader<ChildStdout>>,
}

impl ChildGuard {
    /// Spawns `cmd`.
    pub fn spawn(cmd: &mut Command) -> ChildGuard {
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = child.stdout.take().map(BufReader::new);
        ChildGuard { child, stdout }
    }

    /// The child's piped stdout, to read elsewhere (a thread of its own).
    pub fn take_stdout(&mut self) -> Option<BufReader<ChildStdout>> {
        self.stdout.take()
    }

    /// The child, for its stdin and stderr.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends a signal (`libc::SIGSTOP`, `libc::SIGKILL`, ...).
    pub fn signal(&self, sig: i32) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a pid we spawned and have not reaped yet.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the child to exit on its own (dropping the guard after is harmless).
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap_or_else(|e| panic!("wait: {e}"))
    }

    fn stdout(&mut self) -> &mut BufReader<ChildStdout> {
        self.stdout
            .as_mut()
            .unwrap_or_else(|| panic!("the child's stdout is not piped"))
    }

    /// The next line of the child's stdout, without its newline; `None` once it ends.
    pub fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        let n = self
            .stdout()
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("the child's stdout: {e}"));
        (n > 0).then(|| line.trim_end_matches('\n').to_owned())
    }

    /// Reads the child's stdout up to the first line that ends with `word` (a test
    /// harness may print `test name ... ` before it) and returns that line; panics at a
    /// line that says `fail:` first, or if the output ends first.
    pub fn expect(&mut self, word: &str) -> String {
        while let Some(line) = self.line() {
            assert!(!line.contains("fail:"), "the child said {line:?}");
            if line.trim_end().ends_with(word) {
                return line;
            }
        }
        panic!("the child's output ended before `{word}`");
    }

    /// The rest of the child's stdout, up to its end.
    pub fn rest_of_stdout(&mut self) -> String {
        let mut s = String::new();
        self.stdout()
            .read_to_string(&mut s)
            .unwrap_or_else(|e| panic!("the child's stdout: {e}"));
        s
    }

    /// Waits up to `within` for the child to exit, panics unless it exits with success,
    /// and returns the lines it had still to read on its stdout.
    pub fn finish(mut self, within: Duration) -> Vec<String> {
        let mut status = None;
        wait_until("the child to exit", within, || {
            status = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("wait: {e}"));
            status.is_some()
        });
        let lines: Vec<String> = std::iter::from_fn(|| self.line()).collect();
        let status = status.unwrap_or_else(|| panic!("the child's status"));
        assert!(status.success(), "the child failed: {status} {lines:?}");
        lines
    }

    /// Reads the child's stderr (piped) on a thread of its own and returns what `find`
    /// makes of the first line it accepts: where a child that binds port 0 says what it
    /// bound. Every other line goes to the test's stderr as `name: line`. Panics naming
    /// `name` if no line is accepted within `limit`.
    pub fn announced<T: Send + 'static>(
        &mut self,
        name: &str,
        limit: Duration,
        mut find: impl FnMut(&str) -> Option<T> + Send + 'static,
    ) -> T {
        let stderr = self
            .child
            .stderr
            .take()
            .unwrap_or_else(|| panic!("{name}: its stderr is not piped"));
        let (tx, rx) = std::sync::mpsc::channel();
        let label = name.to_owned();
        std::thread::spawn(move || {
            let mut waiting = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(tx) = &waiting
                    && let Some(found) = find(&line)
                {
                    let _ = tx.send(found);
                    waiting = None;
                } else {
                    eprintln!("{label}: {line}");
                }
            }
        });
        match rx.recv_timeout(limit) {
            Ok(found) => found,
            Err(RecvTimeoutError::Timeout) => {
                panic!("{name}: not said on its stderr within {limit:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{name}: its stderr ended before it said")
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // SAFETY: as in `signal`; errors (already exited) do not matter here.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGCONT) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one test of this test binary in a child process, with `env` set and its stdout
/// piped: the other side of a test that must not share this process (its heap would
/// be counted, its descriptors would add to ours). The child test finds its role in
/// `env` and returns at once without it.
pub fn spawn_test(test: &str, env: &[(&str, &str)]) -> ChildGuard {
    let mut cmd = Command::new(current_exe());
    test_args(&mut cmd, test);
    cmd.envs(env.iter().copied()).stdout(Stdio::piped());
    ChildGuard::spawn(&mut cmd)
}

/// How a child test started by [`spawn_test`] ends once it has done its part: it says
/// `word` on stdout (what the parent [`ChildGuard::expect`]s) and stays up, idle, until
/// the parent, done measuring, kills it (ten minutes at the most).
pub fn say_and_idle(word: &str) {
    println!("{word}");
    std::thread::sleep(Duration::from_secs(600));
}

fn current_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"))
}

/// The arguments that make a test binary run `test` alone, its output not captured.
fn test_args(cmd: &mut Command, test: &str) {
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"]);
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

/// The rules of an nftables chain that count, each with its packet count so far:
/// `nft_counters("inet vtxcut input")`.
pub fn nft_counters(chain: &str) -> Vec<(String, u64)> {
    sh(&format!("nft list chain {chain}"))
        .lines()
        .filter_map(|rule| {
            let count = rule.split("counter packets ").nth(1)?;
            let packets = count.split_whitespace().next()?.parse().ok()?;
            Some((rule.trim().to_owned(), packets))
        })
        .collect()
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
    let exe = current_exe();
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
    test_args(&mut cmd, test);
    cmd.env(ISOLATED, test)
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
    let port = child.announced("socat", Duration::from_secs(10), |line| {
        let addr = line.split(" listening on AF=").nth(1)?;
        Some(addr.rsplit(':').next().unwrap_or("").parse::<u16>())
    });
    let port = port.unwrap_or_else(|e| panic!("socat {args:?}: its port: {e}"));
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
