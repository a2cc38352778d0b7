#!/usr/bin/env python3
"""tests/fault/run.py: the fault-injection driver (SQLite's *fault.test, for
the sealtrain CLI).

For each command that writes, and each class of call the shim can fail
(tests/fault/shim.c: writes, flushes, renames, opens for writing,
truncates, allocations), it first counts that class's calls in a clean
run, then fails the N-th call (EIO, ENOSPC or ENOMEM; once, or from then
on) on a fresh copy of a workspace, and checks what must hold afterwards:

  - the command did not crash (no signal), and a failure names the
    system's reason: exit 5, never "tampered" or "malformed" (exit 3/4);
  - the workspace opens: `audit verify`, `key list`, `data list` pass, and
    every listed dataset passes `data verify --deep`;
  - all or nothing: exit 0 means the change is there with its success
    entry in the audit log; any other exit means the state is unchanged
    and no success entry was written;
  - no temporary file is left;
  - a retry of the same command without fault succeeds and leaves the
    same invariants (and the same files as a clean run).

--sampled tries one call index per (command, class) (--per N: N of them,
spread over the run), fixed for each pair so that a failure reproduces,
for writes, flushes and one other class per command: what `make test`
runs. Without it every index is tried (`make fault`;
allocations every --alloc-stride-th). Exit status: 0 when every run held, 1 otherwise (each violation
is printed with the command, the fault and what broke).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib

CLASSES = ["write", "flush", "rename", "open", "truncate", "alloc"]

# name: argv, exit statuses a retry may give when the first run succeeded
# (the change is already there), and the workspace it starts from
# ("base", or "principals": base with registered principals, every
# command run as the admin alice)
SCENARIOS = {
    "key-create": (["key", "create", "k2"], {3}, "base"),
    "key-rotate": (["key", "rotate", "k"], set(), "base"),
    "key-revoke": (["key", "revoke", "k", "--version", "1"], {2}, "base"),
    "data-import": (
        ["data", "import", "{T}/c.csv", "--name", "d2", "--label", "y",
         "--owner", "alice", "--classification", "internal"],
        {3}, "base",
    ),
    "data-rewrap": (["data", "rewrap", "d"], set(), "base"),
    "data-rm": (["data", "rm", "d"], {3}, "base"),
    "policy-set": (["data", "policy", "set", "d", "{T}/policy.json"], set(),
                   "base"),
    "audit-checkpoint": (["audit", "checkpoint"], set(), "base"),
    "principal-add": (["principal", "add", "carol", "--role", "trainer",
                       "--signing-key", "{T}/carol.pub"], {3}, "principals"),
    "principal-grant": (["principal", "grant", "bob", "dataset:d", "use"],
                        set(), "principals"),
    "principal-revoke": (["principal", "revoke", "bob", "dataset:d", "read"],
                         {2, 3}, "principals"),
    "principal-disable": (["principal", "disable", "bob"], set(),
                          "principals"),
    "job-submit": (["job", "submit", "{T}/spec.json"], set(), "principals"),
    # reads only: a fault must fail it, never shorten its answer
    "metrics": (["metrics"], set(), "principals"),
    # the job submitted in the "queued" template ({J}: its id); a failed run
    # leaves it queued (nothing released) or failed, and the retry is
    # `job resume` then `job run` (see Harness.retry)
    "job-run": (["job", "run", "{J}"], {2}, "queued"),
}

# commands that change nothing: under a fault they either fail (exit 5)
# or give the clean run's whole answer (the same lines, values aside: a
# gauge of seconds moves), never a shorter one
READ_ONLY = {"metrics"}


def answer_shape(out):
    """The lines of an answer without their last field (a value)."""
    return [line.rsplit(" ", 1)[0] for line in out.splitlines()]


# what a job's state may be once the command that ran it has exited: it
# never stays attesting, keyed, training or sealing
AT_REST = {"queued", "succeeded", "failed", "cancelled"}

# commands whose transaction work is not done yet (issue 18): `make fault`
# (--all) sweeps them too and reports what breaks; the sampled sweep of
# `make test` leaves them out.
PENDING = set()

# a failed COMMIT says so: the next open completes or discards the change
# (with its audit entry). A change that committed but whose entry could
# not be appended is a success (exit 0, a warning): the entry waits in the
# catalog for the next open.
COMPLETED_LATER = ["may or may not have been committed"]

# what a fault must never be reported as
WRONG_CAUSES = ["tampered", "malformed", "does not verify", "invalid JSON",
                "not a registered principal", "does not unlock"]

# OpenSSL 3.0 crashes when an allocation fails while it initialises its
# default library context: a lock whose allocation failed is left NULL and
# then taken (CRYPTO_THREAD_read_lock(NULL); openssl/openssl#22950,
# #25442). A crash with that signature in its backtrace is OpenSSL's, and
# is reported apart from ours, with the backtrace; any other crash (or one
# that cannot be examined: no gdb) is a violation.
OPENSSL_LOCK_FRAMES = ("CRYPTO_THREAD_read_lock", "CRYPTO_THREAD_write_lock",
                       "CRYPTO_THREAD_unlock")


class Harness:
    def __init__(self, a):
        self.bin = os.path.abspath(a.sealtrain)
        self.shim = os.path.abspath(a.shim)
        self.tmp = tempfile.mkdtemp(prefix="fault.", dir=a.tmp)
        self.ref_out = {}  # a READ_ONLY scenario's clean answer
        self.failures = []
        self.openssl = []
        self.runs = 0
        self.verbose = a.verbose
        self.cur = "base"
        self.templates = {}
        self.job = ""
        self.after = a.after
        self.expect = a.expect

    # -- running the CLI --
    def env(self, ws, fault=None, count=None):
        e = dict(os.environ)
        e["SEALTRAIN_WORKSPACE"] = ws
        e["SEALTRAIN_KEY"] = os.path.join(self.tmp, "alice.pem")
        if self.cur in ("principals", "queued"):
            e["SEALTRAIN_AS"] = "alice"
        else:
            e.pop("SEALTRAIN_AS", None)
        e.pop("ST_FAULT", None)
        e.pop("ST_FAULT_PID", None)
        e.pop("ST_FAULT_COUNT", None)
        if fault:
            e["LD_PRELOAD"] = self.shim
            e["ST_FAULT"] = fault
            if count:
                e["ST_FAULT_COUNT"] = count
            if self.after:
                e["ST_FAULT_AFTER"] = self.after
        return e

    def st(self, ws, args, fault=None, count=None):
        args = [x.replace("{T}", self.tmp).replace("{J}", self.job)
                for x in args]
        p = subprocess.run([self.bin] + args, env=self.env(ws, fault, count),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=300)
        return p.returncode, p.stdout, p.stderr

    def must(self, ws, args):
        rc, out, err = self.st(ws, args)
        if rc != 0:
            raise SystemExit("set-up: sealtrain %s: exit %d: %s" %
                             (" ".join(args), rc, err.strip()))
        return out

    # -- the workspace every run starts from --
    def setup(self):
        t = self.tmp
        with open(os.path.join(t, "root.key"), "wb") as f:
            f.write(os.urandom(32))
        os.chmod(os.path.join(t, "root.key"), 0o600)
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out",
                        os.path.join(t, "alice.pem")], check=True,
                       stderr=subprocess.DEVNULL)
        with open(os.path.join(t, "c.csv"), "w") as f:
            f.write("a,b,c,y\n")
            for i in range(200):
                f.write("%d.5,%d,%d.25,%s\n" % (i, i % 7, i % 3,
                                                "yes" if i % 2 else "no"))
        rcpt = subprocess.run(["age-keygen"], check=True,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True).stderr
        rcpt = rcpt.strip().split()[-1]  # "Public key: age1..."
        with open(os.path.join(t, "policy.json"), "w") as f:
            f.write('{"version": 1, "attestation": {"version": 1, "tee": '
                    '["sim"]}, "principals": ["*"], "recipients": ["%s"]}\n'
                    % rcpt)
        for who in ("alice", "bob", "carol"):
            if who != "alice":
                subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519",
                                "-out", os.path.join(t, who + ".pem")],
                               check=True, stderr=subprocess.DEVNULL)
            subprocess.run(["openssl", "pkey", "-in",
                            os.path.join(t, who + ".pem"), "-pubout", "-out",
                            os.path.join(t, who + ".pub")], check=True)
        ws = os.path.join(t, "template")
        self.cur = "base"
        self.must(ws, ["init", "--protect", "file:" + t + "/root.key"])
        self.must(ws, ["key", "create", "k"])
        self.must(ws, ["key", "rotate", "k"])
        self.must(ws, ["data", "import", t + "/c.csv", "--name", "d",
                       "--label", "y", "--owner", "alice",
                       "--classification", "internal"])
        # so that `data rewrap d` has a newer KEK version to move to
        self.must(ws, ["key", "rotate", "owner.alice"])
        # the first checkpoint seals the log key under the keyring (a
        # one-time step that a retry completes): the scenario is the next
        self.must(ws, ["audit", "checkpoint"])
        self.templates["base"] = (ws, self.state(ws), self.audit(ws))
        # the same with principals: alice the admin, bob a trainer
        wp = os.path.join(t, "template-principals")
        shutil.copytree(ws, wp, symlinks=True)
        self.must(wp, ["principal", "add", "alice", "--role",
                       "admin,data-owner,model-owner,auditor,trainer",
                       "--signing-key", t + "/alice.pub"])
        self.cur = "principals"
        self.must(wp, ["principal", "add", "bob", "--role", "trainer",
                       "--signing-key", t + "/bob.pub"])
        self.must(wp, ["principal", "grant", "bob", "dataset:d", "read"])
        # a release policy, so that alice may submit a job on d
        self.must(wp, ["data", "policy", "set", "d", t + "/policy.json"])
        with open(os.path.join(t, "spec.json"), "w") as f:
            json.dump({"version": 1, "name": "fault",
                       "model": {"type": "mlp", "hidden": [4]},
                       "training": {"optimizer": "adam", "epochs": 1,
                                    "seed": 1},
                       "datasets": {"train": "d"},
                       "security": {"tee": "sim"},
                       "outputs": {"model": "fault", "recipients": [rcpt]}},
                      f)
        self.templates["principals"] = (wp, self.state(wp), self.audit(wp))
        # the same with alice's job submitted, waiting to run
        wq = os.path.join(t, "template-queued")
        shutil.copytree(wp, wq, symlinks=True)
        self.must(wq, ["job", "submit", t + "/spec.json"])
        self.job = json.loads(self.must(wq, ["job", "list", "--json"]))[0]["id"]
        self.templates["queued"] = (wq, self.state(wq), self.audit(wq))
        self.use("base")

    def use(self, name):
        self.cur = name
        self.template, self.before, self.before_audit = self.templates[name]

    def fresh(self, name):
        ws = os.path.join(self.tmp, name)
        shutil.rmtree(ws, ignore_errors=True)
        shutil.copytree(self.template, ws, symlinks=True)
        return ws

    # -- what is observed --
    def state(self, ws):
        """Datasets (name, generation, file digest), KEK versions and
        their states: what a command changes. None if unreadable."""
        rc, out, _ = self.st(ws, ["data", "list", "--json"])
        rk, kout, _ = self.st(ws, ["key", "list", "--json"])
        if rc or rk:
            return None
        # what a command changes, without times (a clean run is later)
        ds = sorted((d["name"], d["owner"], d["generation"], d["kek"],
                     d["kek_version"]) for d in json.loads(out))
        keys = sorted((k["name"], k["current"],
                       [(v["version"], v["state"]) for v in k["versions"]])
                      for k in json.loads(kout))
        # the release policy of d (none: exit 4), principals and bob's grants
        rp, pout, _ = self.st(ws, ["data", "policy", "show", "d", "--json"])
        policy = pout if rp == 0 else None
        rl, lout, _ = self.st(ws, ["principal", "list", "--json"])
        if rl:
            return None
        people = sorted((p["name"], p.get("disabled"), p.get("roles"))
                        for p in json.loads(lout))
        grants = None
        if any(p[0] == "bob" for p in people):
            rb, bout, _ = self.st(ws, ["principal", "show", "bob", "--json"])
            if rb:
                return None
            grants = sorted((g["resource"], g["permission"])
                            for g in json.loads(bout).get("grants", []))
        rj, jout, _ = self.st(ws, ["job", "list", "--json"])
        if rj:
            return None
        jobs = sorted((j["name"], j["state"]) for j in json.loads(jout))
        rm, mout, _ = self.st(ws, ["model", "list", "--json"])
        if rm:
            return None
        models = sorted((m["name"], m["version"], m["job"])
                        for m in json.loads(mout))
        return json.dumps({"datasets": ds, "keys": keys, "policy": policy,
                           "principals": people, "grants": grants,
                           "jobs": jobs, "models": models}, sort_keys=True)

    def audit(self, ws):
        rc, out, _ = self.st(ws, ["audit", "export", "--format", "jsonl"])
        if rc:
            return None
        return [json.loads(l) for l in out.splitlines() if l.strip()]

    def files(self, ws):
        out = {}
        for root, _, names in os.walk(ws):
            rel = os.path.relpath(root, ws)
            if rel.startswith("logs") or rel.startswith("tmp"):
                continue
            for n in names:
                if n.endswith(("-wal", "-shm", "-journal", ".lock")):
                    continue
                out[rel] = out.get(rel, 0) + 1
        return out

    def temps(self, ws):
        bad = []
        for root, _, names in os.walk(ws):
            for n in names:
                if ".tmp." in n or n.endswith(".tmp"):
                    bad.append(os.path.relpath(os.path.join(root, n), ws))
        return bad

    # -- the checks --
    def check_open(self, ws, what, models=True):
        """The invariants that hold whatever the command did (models:
        the model check too; job-run does it once its job is at rest)."""
        problems = []
        for args in (["audit", "verify"], ["key", "list"]):
            rc, _, err = self.st(ws, args)
            if rc:
                problems.append("%s after %s: exit %d: %s" %
                                (" ".join(args), what, rc, err.strip()))
        rc, out, err = self.st(ws, ["data", "list", "--json"])
        if rc:
            problems.append("data list after %s: exit %d: %s" %
                            (what, rc, err.strip()))
        else:
            for d in json.loads(out):
                name = d["name"]
                rc, _, err = self.st(ws, ["data", "verify", "--deep", name])
                if rc:
                    problems.append("data verify --deep %s after %s: exit "
                                    "%d: %s" % (name, what, rc, err.strip()))
        if models:
            problems += self.check_models(ws, what)
        t = self.temps(ws)
        if t:
            problems.append("temporary files left after %s: %s" %
                            (what, ", ".join(t)))
        return problems

    def check_models(self, ws, what):
        """Every registered model verifies (its file and provenance are
        there), and models/ holds no file that no model names: a model
        whose registration did not land is removed, one that did is
        kept. A registration whose COMMIT failed leaves its files to
        `cleanup` (the process cannot know its outcome): what cleanup
        then leaves is a stray."""
        stray, problems = self.stray_models(ws, what)
        if stray:
            rc, _, err = self.st(ws, ["cleanup"])
            if rc:
                problems.append("cleanup after %s: exit %d: %s" %
                                (what, rc, err.strip()))
            left, _ = self.stray_models(ws, what, verify=False)
            if left:
                problems.append("model files that no model names after %s "
                                "and cleanup: %s" % (what, ", ".join(left)))
        return problems

    def stray_models(self, ws, what, verify=True):
        """(files of models/ that no model names, problems); no files
        when the models cannot be listed (a problem)."""
        rc, out, err = self.st(ws, ["model", "list", "--json"])
        if rc:
            return [], ["model list after %s: exit %d: %s" %
                        (what, rc, err.strip())]
        problems = []
        named = set()
        for m in json.loads(out):
            ref = "%s@%s" % (m["name"], m["version"])
            named.add(os.path.realpath(m["file"]["path"]))
            named.add(os.path.realpath(m["file"]["provenance"]))
            if not verify:
                continue
            rc, _, err = self.st(ws, ["model", "verify", ref])
            if rc:
                problems.append("model verify %s after %s: exit %d: %s" %
                                (ref, what, rc, err.strip()[-300:]))
        d = os.path.join(ws, "models")
        stray = sorted(n for n in (os.listdir(d) if os.path.isdir(d) else [])
                       if os.path.realpath(os.path.join(d, n)) not in named)
        return stray, problems

    def new_success(self, ws, actions):
        log = self.audit(ws)
        if log is None:
            return None
        new = log[len(self.before_audit):]
        return [e for e in new if e.get("outcome") == "success" and
                e.get("action") in actions]

    def reference(self, name, argv):
        """A clean run: its success actions and the files it leaves."""
        ws = self.fresh("ref-" + name)
        rc, out, err = self.st(ws, argv)
        if rc:
            raise SystemExit("reference run of %s failed: %s" %
                             (name, err.strip()))
        self.ref_out[name] = out
        new = self.audit(ws)[len(self.before_audit):]
        actions = {e["action"] for e in new if e.get("outcome") == "success"}
        after = self.state(ws)
        files = self.files(ws)
        shutil.rmtree(ws)
        return actions, after, files

    def count(self, name, argv):
        """Calls of each class in a clean run: {class: n}."""
        ws = self.fresh("count")
        cf = os.path.join(self.tmp, "count.txt")
        if os.path.exists(cf):
            os.unlink(cf)
        self.st(ws, argv, fault="count", count=cf)
        shutil.rmtree(ws)
        out = {}
        with open(cf) as f:
            for line in f:
                k, v = line.split()
                out[k] = int(v)
        return out

    def one(self, name, argv, retry_ok, actions, ref_after, ref_files,
            fault):
        self.runs += 1
        ws = self.fresh("run")
        what = "%s under %s" % (name, fault)
        problems = []
        pristine = None
        if fault.startswith("alloc"):
            # for a rerun under gdb, should it crash
            pristine = os.path.join(self.tmp, "pristine")
            shutil.rmtree(pristine, ignore_errors=True)
            shutil.copytree(ws, pristine, symlinks=True)
        rc, out, err = self.st(ws, argv, fault=fault)
        if rc < 0 or rc >= 128:
            bt = self.openssl_crash(pristine, argv, fault) if pristine \
                else None
            if bt:
                # not ours: reported apart; what a crash leaves must
                # still hold (as after kill -9): the workspace opens, and
                # the change is either not there or there with its entry
                self.openssl.append((what, bt))
                print("OPENSSL %s crashed in OpenSSL's initialisation "
                      "(openssl#22950, #25442):\n%s" % (what, bt),
                      flush=True)
                problems += self.check_open(ws, what)
                after = self.state(ws)
                if after != self.before and not (
                        after == ref_after and self.new_success(ws, actions)):
                    problems.append("%s crashed and left a change without "
                                    "its entry, or half a change" % what)
                self.finish(ws, problems, None)
                return
            problems.append("%s crashed (signal %d): %s" %
                            (what, -rc if rc < 0 else rc - 128, err.strip()))
        elif rc in (3, 4) and fault.startswith("alloc"):
            # the same input as the clean run: out of memory is exit 5
            problems.append("%s blamed the input or an attacker (exit %d): "
                            "%s" % (what, rc, err.strip()))
        elif rc in (3, 4) and any(w in err for w in WRONG_CAUSES):
            problems.append("%s blamed the input or an attacker (exit %d): "
                            "%s" % (what, rc, err.strip()))
        if self.expect and self.expect not in err:
            problems.append("%s: its output lacks \"%s\": the path it is "
                            "pinned to is handled wrongly, or the fault no "
                            "longer reaches it (find the index again with "
                            "ST_FAULT=count and ST_FAULT_AFTER) (exit %d: %s)"
                            % (what, self.expect, rc, err.strip()))
        problems += self.check_open(ws, what, models=name != "job-run")
        after = self.state(ws)
        if name in READ_ONLY:
            if after != self.before:
                problems.append("%s changed the workspace" % what)
            if rc == 0 and answer_shape(out) != \
                    answer_shape(self.ref_out[name]):
                problems.append("%s exited 0 with a shorter or other answer "
                                "than a clean run's" % what)
            self.finish(ws, problems, "%s (exit %d)" % (what, rc))
            return
        succ = self.new_success(ws, actions)
        if rc == 0:
            if after != ref_after:
                problems.append("%s exited 0 but its change is not there" %
                                what)
            if not succ:
                problems.append("%s exited 0 without its audit entry" % what)
        elif (rc == 5 and any(m in err for m in COMPLETED_LATER) and
              after == ref_after and succ):
            # committed (or maybe): completed with its entry at the next
            # open; for the retry, the change is done
            rc = 0
        elif name == "job-run":
            problems += self.job_failed(ws, what, rc, err, after)
        else:
            if after != self.before:
                problems.append("%s failed (exit %d: %s) but its change is "
                                "in force" % (what, rc, err.strip()))
            if succ:
                problems.append("%s failed (exit %d) but logged success" %
                                (what, rc))
        if name == "job-run":
            # once its job is at rest (job_failed ended a stuck one)
            problems += self.check_models(ws, what)
        # the retry, without fault (a job that failed after its keys were
        # released is over: a spec without checkpoints has nothing to
        # resume, and it is submitted again; one left queued runs again)
        if name == "job-run" and rc != 0 and after is not None and \
                dict(json.loads(after)["jobs"]).get("fault") != "queued":
            self.finish(ws, problems, "%s (exit %d, job over)" % (what, rc))
            return
        rc2, _, err2 = self.st(ws, argv)
        if rc2 != 0 and not (rc == 0 and rc2 in retry_ok):
            problems.append("retry of %s (first exit %d) failed: exit %d: %s"
                            % (what, rc, rc2, err2.strip()))
        problems += self.check_open(ws, "the retry of " + what)
        # the retry of a failed run is the first change: it must end where
        # a clean run does (after a success, a retry may change more)
        if rc != 0 and rc2 == 0:
            if self.state(ws) != ref_after:
                problems.append("retry of %s did not reach the clean run's "
                                "state" % what)
            if self.files(ws) != ref_files:
                problems.append("after %s and its retry the files differ "
                                "from a clean run's: %s vs %s" %
                                (what, self.files(ws), ref_files))
        self.finish(ws, problems,
                    "%s (exit %d, retry %d)" % (what, rc, rc2))

    def finish(self, ws, problems, ok):
        """Ends a scenario: its workspace removed, its problems reported
        and counted; `ok` (None: nothing) printed when verbose and none."""
        shutil.rmtree(ws)
        for p in problems:
            print("FAIL " + p, flush=True)
        self.failures += problems
        if self.verbose and ok and not problems:
            print("ok   " + ok, flush=True)


    def openssl_crash(self, ws, argv, fault):
        """The crash of `fault` again, under gdb on a copy of the
        workspace as it was: its backtrace when it is OpenSSL's lock of a
        failed initialisation (see OPENSSL_LOCK_FRAMES), else None."""
        gdb = shutil.which("gdb")
        if not gdb:
            return None
        args = [x.replace("{T}", self.tmp).replace("{J}", self.job)
                for x in argv]
        e = self.env(ws, fault)
        pre = e.pop("LD_PRELOAD")
        cmd = [gdb, "-q", "-batch", "-nx",
               "-ex", "set environment LD_PRELOAD " + pre,
               "-ex", "run", "-ex", "bt 12", "--args", self.bin] + args
        p = subprocess.run(cmd, env=e, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        shutil.rmtree(ws, ignore_errors=True)
        frames = [l for l in p.stdout.splitlines() if l.startswith("#")]
        if "SIGSEGV" not in p.stdout or not frames:
            return None
        top = " ".join(frames[:3])
        if any(f in top for f in OPENSSL_LOCK_FRAMES) and \
                "libcrypto" in " ".join(frames[:6]):
            return "\n".join("    " + f for f in frames)
        return None

    def job_failed(self, ws, what, rc, err, after):
        """A failed `job run`: the job is at rest (queued: nothing was
        released; failed or cancelled), and no model of it is registered.
        When the catalog could not take even the failure (a disk that
        stays full, or that failed the very COMMIT of the way back), the
        job may stay where it was; then `job cancel` must end it (its
        controller is gone) and the next checks see it cancelled."""
        if after is None:
            return []  # check_open named what cannot be read
        st = json.loads(after)
        state = dict(st["jobs"]).get("fault")
        problems = []
        if state not in AT_REST:
            rc3, _, err3 = self.st(ws, ["job", "cancel", "{J}"])
            now = self.state(ws)
            state = dict(json.loads(now)["jobs"]).get("fault") if now else None
            if rc3 != 0 or state != "cancelled":
                problems.append("%s failed (exit %d: %s) and left the job "
                                "stuck: job cancel exit %d (%s), then %s" %
                                (what, rc, err.strip(), rc3, err3.strip(),
                                 state))
        elif state == "succeeded":
            problems.append("%s failed (exit %d: %s) but the job succeeded" %
                            (what, rc, err.strip()))
        if st["models"]:
            problems.append("%s failed (exit %d: %s) but its model is "
                            "registered (job %s)" %
                            (what, rc, err.strip(), state))
        return problems


def points(n, sampled, per, salt):
    if n <= 0:
        return []
    if not sampled or n <= per:
        return list(range(1, n + 1))
    if per == 1:
        # one call, at a position that differs between commands and
        # classes but not between runs (a failure reproduces)
        return [1 + (salt % 1000) * (n - 1) // 999]
    # spread over the run: the first call, the last, and between
    return sorted({1 + (i * (n - 1)) // (per - 1) for i in range(per)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sealtrain", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--sampled", action="store_true")
    ap.add_argument("--per", type=int, default=1,
                    help="call indexes per command and class (sampled)")
    ap.add_argument("--alloc-stride", type=int, default=1,
                    help="full sweep: every k-th allocation")
    ap.add_argument("--only", action="append",
                    help="scenario(s) to run (default: all but PENDING)")
    ap.add_argument("--all", action="store_true",
                    help="PENDING scenarios too")
    ap.add_argument("--class", dest="classes", action="append")
    ap.add_argument("--from", dest="first", type=int, default=1,
                    help="full sweep: start at this call index")
    ap.add_argument("--to", dest="last", type=int, default=0,
                    help="full sweep: stop after this call index")
    ap.add_argument("--stride", type=int, default=1,
                    help="full sweep: every k-th call of the other classes")
    ap.add_argument("--two-modes", action="store_true",
                    help="full sweep: at each index of a class that takes "
                         "errnos, once and sticky, the errno alternating "
                         "between indexes (half the runs of all four)")
    ap.add_argument("--one-mode", action="store_true",
                    help="full sweep: one run at each index, its errno and "
                         "once/sticky rotating between indexes")
    ap.add_argument("--fault", action="append",
                    help="only this fault (CLASS:N:ERRNO:MODE), pinned: "
                         "with --after and --expect, a test of one path")
    ap.add_argument("--after",
                    help="count calls from the first open of a path that "
                         "contains this text (the shim's ST_FAULT_AFTER)")
    ap.add_argument("--expect",
                    help="the faulted command's error output must contain "
                         "this: the fault still reaches the pinned step")
    ap.add_argument("--tmp", default=os.environ.get("ST_TEST_TMP"))
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if a.tmp:
        os.makedirs(a.tmp, exist_ok=True)
    h = Harness(a)
    try:
        h.setup()
        names = a.only or [n for n in SCENARIOS
                           if a.all or n not in PENDING]
        classes = a.classes or CLASSES
        k = 0
        for name in names:
            argv, retry_ok, template = SCENARIOS[name]
            h.use(template)
            actions, ref_after, ref_files = h.reference(name, argv)
            if a.fault:
                for f in a.fault:
                    h.one(name, argv, retry_ok, actions, ref_after,
                          ref_files, f)
                continue
            counts = h.count(name, argv)
            mine = classes
            if a.sampled and not a.classes:
                # about two minutes for `make test`: writes and flushes
                # (audit appends, commits) everywhere, and one other class
                # per command, fixed for each command
                rest = CLASSES[2:]
                mine = CLASSES[:2] + [rest[zlib.crc32(name.encode()) %
                                           len(rest)]]
            for cls in mine:
                n = counts.get(cls, 0)
                pts = points(n, a.sampled, a.per,
                             zlib.crc32((name + ":" + cls).encode()))
                if not a.sampled:
                    step = a.alloc_stride if cls == "alloc" else a.stride
                    pts = [x for x in pts[::max(1, step)] if x >= a.first and
                           (not a.last or x <= a.last)]
                print("# %s: %d %s calls, %d runs" % (name, n, cls,
                                                       len(pts)), flush=True)
                for p in pts:
                    # alternate errno and once/sticky over the sample
                    if cls == "alloc":
                        modes = [("ENOMEM", "once"), ("ENOMEM", "sticky")]
                    else:
                        modes = [("EIO", "once"), ("ENOSPC", "sticky"),
                                 ("EIO", "sticky"), ("ENOSPC", "once")]
                    if a.sampled:
                        modes = [modes[k % len(modes)]]
                    elif a.two_modes and cls != "alloc":
                        modes = modes[:2] if p % 2 else modes[2:]
                    elif a.one_mode:
                        modes = [modes[p % len(modes)]]
                    for e, m in modes:
                        k += 1
                        h.one(name, argv, retry_ok, actions, ref_after,
                              ref_files, "%s:%d:%s:%s" % (cls, p, e, m))
    finally:
        shutil.rmtree(h.tmp, ignore_errors=True)
    print("%d runs, %d violations" % (h.runs, len(h.failures)))
    if h.openssl:
        print("%d runs crashed inside OpenSSL's initialisation under a failed "
              "allocation (openssl#22950, #25442; backtraces above): not "
              "counted as violations" % len(h.openssl))
    return 1 if h.failures else 0


if __name__ == "__main__":
    sys.exit(main())
