"""pgserver: a real PostgreSQL (Debian's postgresql package) for the tests, in a temporary
directory: initdb as the postgres user, listening on 127.0.0.1 on a free port and on a unix
socket in that directory, fsync off; one database and one user with a password. Stopped at exit.
Call it after netns.isolate(): the server's port is inside the test's namespace."""
import atexit
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from urllib.parse import quote

from fdntest import free_port


def bindir():
    """The newest installed server's binaries (/usr/lib/postgresql/<version>/bin), or None."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        version = initdb.split(os.sep)[-3]
        if version.replace(".", "").isdigit():
            found.append((float(version), os.path.dirname(initdb)))
    return max(found)[1] if found else None


class PgServer:
    """server = PgServer(); server.url (TCP, with the password), server.socket_url (the unix
    socket in its directory, trusted: no password); restart(); stop() (also run at exit)."""

    def __init__(self, user="fdn", password="p@ss:w/rd %'", db="fdn"):
        self.bin = bindir()
        if not self.bin:
            print("skipped: PostgreSQL is not installed (apt-get install postgresql)")
            sys.exit(77)
        self.user, self.password, self.db = user, password, db
        self.dir = tempfile.mkdtemp(prefix="fdn-pg-")
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "server.log")
        self.port = free_port()
        self._as = {}
        if os.geteuid() == 0:  # the server refuses to run as root
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        atexit.register(self.stop)
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self.start()
        self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (user, password.replace("'", "''")))
        self.psql("CREATE DATABASE %s OWNER %s" % (db, user))
        self.url = "postgresql://%s:%s@127.0.0.1:%d/%s" % (quote(user, safe=""), quote(password, safe=""),
                                                             self.port, db)
        self.socket_url = "postgresql://%s@/%s?host=%s&port=%d" % (user, db, quote(self.dir, safe="/"), self.port)

    def _run(self, tool, *args, timeout=60):
        p = subprocess.run([os.path.join(self.bin, tool), *args], capture_output=True, timeout=timeout,
                           cwd=self.dir, **self._as)
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s %s" % (tool, p.stdout.decode(), p.stderr.decode()))
        return p.stdout.decode()

    def start(self):
        opts = ("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=50" % (self.port, self.dir))
        self._run("pg_ctl", "-D", self.data, "-l", self.logfile, "-o", opts, "-w", "-t", "30", "start")

    def stop_server(self, mode="fast"):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30", "stop")

    def restart(self, down=0.0):
        """Stops the server (fast: sessions end at once) and starts it again after down seconds."""
        self.stop_server()
        time.sleep(down)
        self.start()

    def psql(self, sql, db="postgres"):
        """Runs sql as the superuser over the unix socket; returns psql's output."""
        return self._run("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-p",
                         str(self.port), "-U", "postgres", "-d", db, "-c", sql)

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if not self.dir:
            return
        try:
            self.stop_server("immediate")
        except Exception as e:  # at exit: report, go on removing the directory
            print("pgserver: stop failed: %s" % e, file=sys.stderr)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
