"""netns: run a test inside a private network namespace whose only interface
is lo, so multicast and every packet stay inside it (DESIGN §9). Call
isolate() first thing: it re-executes the test under `unshare -n` (root) or
`unshare -rn` (not root), or exits 77 (skipped) when neither is possible."""
import os
import shutil
import subprocess
import sys


def isolate():
    if os.environ.get("FDN_IN_NETNS") == "1":
        return
    unshare = shutil.which("unshare")
    if not unshare:
        print("skipped: unshare is not available")
        sys.exit(77)
    flags = "-n" if os.geteuid() == 0 else "-rn"
    probe = subprocess.run([unshare, flags, "true"], capture_output=True)
    if probe.returncode != 0:
        print("skipped: cannot create a network namespace (%s)" % probe.stderr.decode().strip())
        sys.exit(77)
    env = dict(os.environ, FDN_IN_NETNS="1")
    script = "ip link set lo up && exec \"$0\" \"$@\""
    os.execve(unshare, [unshare, flags, "sh", "-c", script, sys.executable, *sys.argv], env)
