"""Shared pytest fixtures for the end-to-end tests (see ghtest.py)."""

import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))
# smtpsink (the recording SMTP server) lives in scripts/: make run uses it too
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import ghtest  # noqa: E402
import smtpsink  # noqa: E402


@pytest.fixture
def workdir():
    """A fresh directory that unprivileged helpers (Postfix's pipe user
    'nobody', spamd) can traverse; removed after the test, whether it passed
    or failed (copy what you need from a failing test's output)."""
    d = tempfile.mkdtemp(prefix="gh-e2e-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def sink():
    """A recording SMTP server (scripts/smtpsink.py), closed after the test."""
    s = smtpsink.Sink()
    yield s
    s.close()


@pytest.fixture
def postfix_factory(workdir):
    """postfix_factory(mode=None|'smtp'|'lmtp'|'proxy', filter_port=...) -> started Postfix.
    Every instance started through it is stopped at the end of the test."""
    started = []

    def make(mode=None, filter_port=None, name="postfix", **kw):
        pf = ghtest.Postfix(os.path.join(workdir, name), mode=mode, filter_port=filter_port, **kw)
        pf.start()
        started.append(pf)
        return pf

    yield make
    for pf in started:
        pf.stop()


@pytest.fixture
def scand_factory(workdir):
    """scand_factory(forward_port, sections={...}, start=True) -> Scand; stopped (killed if needed) after."""
    started = []

    def make(forward_port, name="scand", start=True, **kw):
        s = ghtest.Scand(os.path.join(workdir, name), forward_port, **kw)
        started.append(s)
        if start:
            s.start()
        return s

    yield make
    for s in started:
        if s.proc and s.proc.poll() is None:
            s.stop(timeout=10)


@pytest.fixture(scope="session")
def spamd():
    """One spamd for the whole session (it takes a second or two to start)."""
    d = tempfile.mkdtemp(prefix="gh-spamd-")
    os.chmod(d, 0o755)
    s = ghtest.Spamd(d).start()
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def rspamd():
    """One rspamd for the whole session (checks on rspamd.addr, learning on
    rspamd.controller with rspamd.password); see ghtest.Rspamd. A test that
    kills or reconfigures rspamd starts its own with rspamd_factory."""
    d = tempfile.mkdtemp(prefix="gh-rspamd-")
    r = ghtest.Rspamd(d).start()
    yield r
    r.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def rspamd_factory(workdir):
    """rspamd_factory(name="rspamd", **kw) -> a started ghtest.Rspamd, stopped after the test."""
    started = []

    def make(name="rspamd", **kw):
        r = ghtest.Rspamd(os.path.join(workdir, name), **kw)
        started.append(r)
        return r.start()

    yield make
    for r in started:
        r.stop()


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL 15 cluster for the whole session (ghtest.Postgres);
    tests take a fresh database of it through pg_url."""
    d = tempfile.mkdtemp(prefix="gh-pg-")
    pg = ghtest.Postgres(d).start()
    yield pg
    pg.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pg_url(postgres, request):
    """A fresh, empty database on the session's cluster, as the URL [scand]
    database takes (postgresql://gatehouse@127.0.0.1:PORT/DB); dropped after."""
    name = "gh_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    postgres.dropdb(name)
    url = postgres.createdb(name)
    yield url
    postgres.dropdb(name)
