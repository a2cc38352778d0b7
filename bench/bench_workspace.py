"""bench/bench_workspace.py: the throw-away sealtrain workspace that the
Python benchmarks (gbdt.py, tabular.py) drive through the CLI.

A temporary directory holds the workspace (SEALTRAIN_WORKSPACE=DIR/ws,
root key protected by the file DIR/root.key) and the keys of three
principals in DIR/keys: admin (role admin), dana (data-owner) and mo
(model-owner, trainer), each with a signing key and an age recipient.
Imported by the benchmark scripts, which run with bench/ first on
sys.path; never by sealtrain itself."""
import os
import re
import subprocess
import sys
import tempfile


class Workspace:
    """binary: the sealtrain CLI; prefix: the temporary directory's."""

    def __init__(self, binary, prefix):
        self.binary = os.path.abspath(binary)
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.keys = self.dir + "/keys"
        self.env = dict(os.environ, SEALTRAIN_WORKSPACE=self.dir + "/ws")

    def st(self, *args, who=None):
        """Runs `sealtrain ARGS` (as principal `who` with its key when
        given) and returns its stdout; exits the benchmark on failure."""
        cmd = [self.binary]
        if who:
            cmd += ["--as", who, "--key", "%s/%s.pem" % (self.keys, who)]
        r = subprocess.run(cmd + list(args), env=self.env, capture_output=True,
                           text=True)
        if r.returncode:
            sys.exit("sealtrain %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def rcpt(self, who):
        """The age recipient of principal `who`."""
        with open("%s/%s.age" % (self.keys, who)) as f:
            return re.search(r"age1[0-9a-z]+", f.read()).group(0)

    def setup(self):
        """Creates the workspace and the three principals."""
        st, K = self.st, self.keys
        os.makedirs(K)
        st("init", "--protect", "file:%s/root.key" % self.dir)
        for p in ("admin", "dana", "mo"):
            st("identity", "new", p, "--out", K)
        st("principal", "add", "admin", "--role", "admin", "--signing-key",
           K + "/admin.pub.pem")
        st("principal", "add", "dana", "--role", "data-owner", "--signing-key",
           K + "/dana.pub.pem", "--recipient", self.rcpt("dana"), who="admin")
        st("principal", "add", "mo", "--role", "model-owner,trainer",
           "--signing-key", K + "/mo.pub.pem", "--recipient", self.rcpt("mo"),
           who="admin")
