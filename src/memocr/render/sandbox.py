"""How Chromium is started: sandboxed, unprivileged, offline, with an environment that holds nothing.

Playwright starts the "executable" it is given with its own flags and talks to it over two inherited
pipes (fds 3 and 4). That executable is a small launcher script, written at start into a private
directory, that ``exec``s through util-linux and keeps those pipes:

* ``unshare --net``: the browser lives in a network namespace of its own, with nothing in it (not even
  the host's loopback), so nothing a page names can reach a listener, a resolver or the internet;
* ``setpriv`` (only when memocr runs as root): the browser runs as the unprivileged ``user``
  (``memocr-render``, created by scripts/setup.sh), no supplementary groups, no capabilities,
  ``no_new_privs``; Playwright's throw-away profile directory is handed to that user first;
* ``env -i``: the browser's environment is HOME (a private directory), TMPDIR and PATH, nothing else
  (no API key, no token).

Chromium keeps its own sandbox (``chromium_sandbox=True``; no ``--no-sandbox``): renderers run in
their own user, PID and network namespaces under seccomp-bpf. That needs unprivileged user namespaces;
where the kernel refuses them, starting fails with a one-line reason unless ``allow_unsandboxed``
accepts the risk. Below the page, Chromium's resolver maps every name to nothing and every request
goes to a proxy that does not exist (`OFFLINE_FLAGS`), in case the namespace is unavailable (a
container without CAP_SYS_ADMIN as root) or something escapes it.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any

from memocr.errors import RendererUnavailableError

RENDER_USER = "memocr-render"
# Every host name resolves to nothing, and every request (loopback too: "<-loopback>" removes the
# implicit bypass) goes through a proxy whose name resolves to nothing.
OFFLINE_FLAGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://memocr-offline.invalid:1",
    "--proxy-bypass-list=<-loopback>",
)
SANDBOX_HINT = (
    "enable unprivileged user namespaces (sysctl user.max_user_namespaces=15000, "
    "kernel.unprivileged_userns_clone=1, kernel.apparmor_restrict_unprivileged_userns=0) "
    "or pass --allow-unsandboxed-browser to accept the risk"
)


def _tool(name: str) -> str:
    path = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise RendererUnavailableError(
            f"'{name}' (util-linux) is needed to start Chromium safely; install util-linux"
        )
    return path


def _succeeds(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=10, env={}).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def user_namespaces_work(prefix: list[str]) -> bool:
    """Whether a process started through ``prefix`` (the privilege drop) may create a user namespace,
    which Chromium's sandbox needs."""
    return _succeeds([*prefix, _tool("unshare"), "--user", _tool("true")])


@dataclass
class ChromiumLauncher:
    """Prepares (`prepare`) and describes (`launch_options`) one sandboxed Chromium launch setup;
    `cleanup` removes its private directory."""

    executable_path: str
    user: str = RENDER_USER
    allow_unsandboxed: bool = False
    network_namespace: bool = True  # False only for tests that show what the rest of the backstop stops
    sandboxed: bool = field(default=True, init=False)
    _directory: str | None = field(default=None, init=False, repr=False)

    def prepare(self) -> None:
        if self._directory is not None:
            return
        if not os.access(self.executable_path, os.X_OK):
            raise RendererUnavailableError(
                f"Chromium not found at {self.executable_path}; install it with "
                "'apt-get install chromium' (scripts/setup.sh does) or pass the path of a Chromium binary"
            )
        root = os.geteuid() == 0
        account = self._account() if root else None
        drop = self._drop_prefix(account)
        self.sandboxed = user_namespaces_work(drop)
        if not self.sandboxed and not self.allow_unsandboxed:
            raise RendererUnavailableError(f"this kernel cannot give Chromium its sandbox; {SANDBOX_HINT}")
        netns = [_tool("unshare"), "--net", "--"] if root else []
        if not root and self.sandboxed:
            netns = [_tool("unshare"), "--user", "--map-current-user", "--net", "--"]
        if not self.network_namespace or not _succeeds([*netns, _tool("true")]):
            netns = []
        self._directory = tempfile.mkdtemp(prefix="memocr-chromium-")
        home = os.path.join(self._directory, "home")
        os.mkdir(home, 0o700)
        script = [
            "#!/bin/sh",
            "# memocr: starts Chromium sandboxed, unprivileged and offline (memocr.render.sandbox)",
        ]
        if account is not None:
            os.chmod(self._directory, 0o711)  # the user may pass through to its home, not list it
            os.chown(home, account.pw_uid, account.pw_gid)
            owner = f"{account.pw_uid}:{account.pw_gid}"
            script.append(
                'for arg; do case "$arg" in --user-data-dir=*) '
                f'chown -R {owner} "${{arg#--user-data-dir=}}" || exit 1 ;; esac; done'
            )
        environment = [f"HOME={home}", f"TMPDIR={home}", "PATH=/usr/bin:/bin"]
        command = [*netns, *drop, _tool("env"), "-i", *environment, self.executable_path]
        script.append(f'exec {shlex.join(command)} "$@"')
        launcher = os.path.join(self._directory, "chromium")
        with open(os.open(launcher, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700), "w") as file:
            file.write("\n".join(script) + "\n")

    @property
    def home(self) -> str:
        """The browser's private HOME (and TMPDIR), writable by the user it runs as."""
        assert self._directory is not None, "prepare() first"
        return os.path.join(self._directory, "home")

    def launch_options(self, flags: tuple[str, ...], timeout_s: float) -> dict[str, Any]:
        """Keyword arguments for Playwright's ``chromium.launch``."""
        assert self._directory is not None, "prepare() first"
        return {
            "executable_path": os.path.join(self._directory, "chromium"),
            "args": [*flags, *OFFLINE_FLAGS],
            "chromium_sandbox": self.sandboxed,
            "env": {"PATH": "/usr/bin:/bin"},
            "timeout": timeout_s * 1000,
        }

    def cleanup(self) -> None:
        directory, self._directory = self._directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def _account(self) -> pwd.struct_passwd:
        try:
            account = pwd.getpwnam(self.user)
        except KeyError:
            raise RendererUnavailableError(
                f"memocr runs as root, so Chromium runs as the unprivileged user '{self.user}', which does "
                "not exist; run scripts/setup.sh (it creates memocr-render) or name another user"
            ) from None
        if account.pw_uid == 0 or account.pw_gid == 0:
            raise RendererUnavailableError(
                f"user '{self.user}' is privileged (uid or gid 0); name an unprivileged one"
            )
        return account

    def _drop_prefix(self, account: pwd.struct_passwd | None) -> list[str]:
        if account is None:
            return []
        return [
            _tool("setpriv"),
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ]
