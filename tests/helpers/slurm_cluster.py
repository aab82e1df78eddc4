"""A throwaway single-node SLURM cluster on this machine, for the tests.

What it takes on Debian 12 (slurm-wlm 22.05 + munge, as root):

- ``apt-get install --no-install-recommends slurmctld slurmd slurm-client munge``
  (:func:`ensure_installed`, skipped when the packages are already there);
- a munge key (``mungekey --create``, done by the package or here) and a private
  ``munged`` whose socket lives in this cluster's own directory (mode 755), named in
  ``slurm.conf`` through ``AuthInfo=socket=...``;
- ``slurm.conf`` **at /etc/slurm/slurm.conf**: a ``SLURM_CONF`` elsewhere is dropped by
  the job-step plugin (every job then fails). One node, ``NodeName=localhost
  NodeAddr=127.0.0.1``, CPUs and RealMemory from ``slurmd -C``, no accounting
  (``accounting_storage/none``), ``proctrack/linuxproc``, ``task/none``,
  ``select/cons_tres`` with memory as a consumable; ``jobacct_gather/linux`` with
  ``OverMemoryKill`` so that a job over its ``--mem`` is killed (polled every 2 s);
  MinJobAge at its default (300 s), which the executor plugin needs for ``squeue``
  status queries;
- ``munged``, ``slurmctld`` and ``slurmd -N localhost`` started in the foreground as
  children of this process, so that :meth:`SlurmCluster.stop` ends exactly them, by PID.

Only one such cluster can run on a machine (the configuration path is fixed), so
:meth:`SlurmCluster.start` holds an exclusive lock for the cluster's lifetime, puts back
any ``slurm.conf`` it found, and cancels every job of its own cluster before stopping.
Without accounting, submit with the SLURM executor plugin's
``--slurm-status-command squeue`` (its default, ``sacct``, never sees a job here).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo")
SLURM_CONF = Path("/etc/slurm/slurm.conf")
LOCK_FILE = Path("/run/lock/ntk-phases-slurm.lock")
MUNGE_KEY = Path("/etc/munge/munge.key")
PARTITION = "debug"
CONF_HEADER = "# Written by ntk-phases tests/slurm_cluster.py for a single-node test cluster; removed after."


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/sbin", "/usr/bin") if (p := Path(d) / name).exists()),
        None,
    )


def _installed() -> bool:
    return all(_which(b) for b in BINARIES)


def unavailable_reason() -> str | None:
    """Why a cluster cannot be set up here (None: it can)."""
    if os.name != "posix" or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "a single-node SLURM needs root (to install slurm-wlm and run its daemons)"
    if not _installed() and not shutil.which("apt-get"):
        return "slurm-wlm is not installed and apt-get is unavailable to install it"
    return None


def ensure_installed(timeout: int = 900) -> None:
    """Install slurm-wlm and munge with apt unless their binaries are already there."""
    if _installed():
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
    ):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    if not _installed():
        raise RuntimeError(f"installed {PACKAGES} but some of {BINARIES} are still missing")


def node_resources() -> tuple[int, int]:
    """(CPUs, RealMemory in MB) as slurmd -C reports them."""
    out = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True, check=True, timeout=60).stdout
    cpus = int(re.search(r"\bCPUs=(\d+)", out).group(1))
    mem = int(re.search(r"\bRealMemory=(\d+)", out).group(1))
    return cpus, mem


class SlurmCluster:
    """One node (``localhost``) in every partition named; state and logs under ``root``."""

    def __init__(self, root: Path, partitions=(PARTITION,), lock_timeout: float = 1800.0, spare_cpus: int = 0):
        """``spare_cpus``: CPUs the node declares beyond the real ones (for jobs that only
        wait, e.g. a sleeping job run beside a real workload); ``cpus`` stays the real count."""
        self.root = Path(root)
        self.spare_cpus = int(spare_cpus)
        self.partitions = list(dict.fromkeys(partitions)) or [PARTITION]
        self.lock_timeout = lock_timeout
        self.procs: dict[str, subprocess.Popen] = {}
        self._lock_fd: int | None = None
        self._saved_conf: bytes | None = None
        self._wrote_conf = False
        self.cpus = self.mem_mb = 0

    # -- configuration ---------------------------------------------------------------
    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    def config_text(self) -> str:
        r = self.root
        return "\n".join(
            [
                CONF_HEADER,
                "ClusterName=ntkphases",
                "SlurmctldHost=localhost(127.0.0.1)",
                "AuthType=auth/munge",
                "CryptoType=crypto/munge",
                f"AuthInfo=socket={self.munge_socket}",
                "SlurmUser=root",
                "SlurmdUser=root",
                f"StateSaveLocation={r}/state",
                f"SlurmdSpoolDir={r}/spool",
                f"SlurmctldPidFile={r}/slurmctld.pid",
                f"SlurmdPidFile={r}/slurmd.pid",
                "SlurmctldDebug=info",
                "SlurmdDebug=info",
                "MpiDefault=none",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "SchedulerType=sched/backfill",
                "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/none",
                "JobAcctGatherType=jobacct_gather/linux",
                "JobAcctGatherFrequency=task=2",
                "JobAcctGatherParams=OverMemoryKill",
                "ReturnToService=2",
                "KillWait=5",
                "OverTimeLimit=0",
                "InactiveLimit=0",
                "SlurmdTimeout=300",
                *(["SlurmdParameters=config_overrides"] if self.spare_cpus else []),
                f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus + self.spare_cpus}"
                f" RealMemory={self.mem_mb} State=UNKNOWN",
                *(
                    f"PartitionName={name} Nodes=localhost Default={'YES' if i == 0 else 'NO'}"
                    " MaxTime=INFINITE State=UP"
                    for i, name in enumerate(self.partitions)
                ),
                "",
            ]
        )

    # -- lifecycle -------------------------------------------------------------------
    def _lock(self) -> None:
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as err:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise RuntimeError(f"another test cluster holds {LOCK_FILE}") from err
                time.sleep(2)
        self._lock_fd = fd

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.out", "ab")
        self.procs[name] = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
        log.close()

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.logs()}")

    def env(self) -> dict:
        env = dict(os.environ)
        env.pop("SLURM_CONF", None)
        return env

    def cmd(self, *args: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        """A SLURM client command (scontrol, squeue, scancel, sinfo...) against this cluster."""
        return subprocess.run(
            [_which(args[0]) or args[0], *args[1:]],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def start(self, timeout: float = 120) -> SlurmCluster:
        self._lock()
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        for sub in ("state", "spool", "log", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o755)
        os.chmod(self.root, 0o755)
        if not MUNGE_KEY.exists():
            subprocess.run([_which("mungekey"), "--create", "--keyfile", str(MUNGE_KEY)], check=True, timeout=60)
            shutil.chown(MUNGE_KEY, "munge", "munge") if _has_user("munge") else None
            os.chmod(MUNGE_KEY, 0o600)
        self.cpus, self.mem_mb = node_resources()

        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        if SLURM_CONF.exists() and not SLURM_CONF.read_text(errors="replace").startswith(CONF_HEADER):
            self._saved_conf = SLURM_CONF.read_bytes()  # a real configuration: put back on stop
        SLURM_CONF.write_text(self.config_text())
        self._wrote_conf = True

        m = self.root / "munge"
        self._spawn(
            "munged",
            [
                _which("munged"),
                "--foreground",
                "--force",
                f"--socket={self.munge_socket}",
                f"--pid-file={m}/munged.pid",
                f"--seed-file={m}/munged.seed",
                f"--log-file={self.root}/log/munged.log",
                f"--key-file={MUNGE_KEY}",
            ],
        )
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged socket")
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i"])
        self._wait(
            lambda: (
                self.cmd("scontrol", "ping", check=False).returncode == 0
                and "UP" in self.cmd("scontrol", "ping", check=False).stdout
            ),
            timeout,
            "slurmctld",
        )
        self._spawn("slurmd", [_which("slurmd"), "-D", "-N", "localhost"])

        def node_ready() -> bool:
            out = self.cmd("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.strip()
            return out.startswith("idle") or out.startswith("mix")

        self._wait(node_ready, timeout, "node localhost to become idle")

    def _wait(self, cond, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if cond():
                    return
            except (subprocess.SubprocessError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"timed out waiting for {what}:\n{self.logs()}")

    def logs(self, tail: int = 3000) -> str:
        out = []
        for path in sorted((self.root / "log").glob("*")):
            text = path.read_text(errors="replace")
            out.append(f"--- {path.name}\n{text[-tail:]}")
        return "\n".join(out)

    def stop(self) -> None:
        """Cancel this cluster's jobs, end the daemons started here (by PID), restore the config."""
        try:
            if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
                self.cmd("scancel", "--full", "--cluster=ntkphases", "--user=root", check=False)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    q = self.cmd("squeue", "-h", "-t", "RUNNING,COMPLETING,PENDING", check=False)
                    if q.returncode != 0 or not q.stdout.strip():
                        break
                    time.sleep(1)
        except (subprocess.SubprocessError, OSError):
            pass
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()
        if self._wrote_conf:
            if self._saved_conf is not None:
                SLURM_CONF.write_bytes(self._saved_conf)
            else:
                SLURM_CONF.unlink(missing_ok=True)
            self._wrote_conf = False
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- queries ---------------------------------------------------------------------
    def jobs(self) -> list[dict]:
        """Jobs the controller still knows, by job id (MinJobAge keeps finished ones 5 minutes)."""
        out = self.cmd("squeue", "-h", "-t", "all", "-o", "%i|%T|%k|%M|%l|%m", check=False).stdout
        rows = []
        for line in out.splitlines():
            if line.count("|") == 5:
                jobid, state, comment, elapsed, limit, mem = line.split("|")
                rows.append(
                    dict(jobid=jobid, state=state, comment=comment, elapsed=elapsed, time_limit=limit, min_memory=mem)
                )
        return sorted(rows, key=lambda r: [int(x) if x.isdigit() else 0 for x in re.split(r"[_.]", r["jobid"])])

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _die_with_parent() -> None:
    """In a daemon's child process before exec: SIGTERM it when the test process dies
    (prctl PR_SET_PDEATHSIG), so a killed test run leaves no daemon behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
