# The unmodified PyPI e2b SDK (sync `Sandbox` and async `AsyncSandbox`) against a wrenn-agent.
# Only E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY configure the SDK; WRENN_E2B_TEMPLATE picks
# the template (default minimal).  The tests of each class run in order and share one sandbox
# (created by the first, killed by the last), so a run creates two sandboxes per SDK version.
import asyncio
import os
import threading
import time
from importlib.metadata import version

import pytest
from e2b import (
    AsyncSandbox,
    CommandExitException,
    FilesystemEventType,
    NotFoundException,
    PtySize,
    Sandbox,
    SandboxException,
    SandboxQuery,
    TimeoutException,
)

TEMPLATE = os.environ.get("WRENN_E2B_TEMPLATE") or "minimal"
TTL = 600  # seconds: TCG microVMs are slow
RUN_ID = f"py-{version('e2b')}-{os.getpid()}-{int(time.time())}"
DIR = f"/tmp/e2b-py-{os.getpid()}"


def setup_module():
    missing = [v for v in ("E2B_API_URL", "E2B_SANDBOX_URL", "E2B_API_KEY") if not os.environ.get(v)]
    if missing:
        raise RuntimeError(f"set {', '.join(missing)} (see tests/e2b-py/run.sh)")


def until(what, fn, secs=30.0):
    end = time.monotonic() + secs
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


async def until_async(what, fn, secs=30.0):
    end = time.monotonic() + secs
    while True:
        v = await fn() if asyncio.iscoroutinefunction(fn) else fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def list_all(query):
    p = Sandbox.list(query=query)
    out = []
    while p.has_next:
        out.extend(p.next_items())
    return out


async def list_all_async(query):
    p = AsyncSandbox.list(query=query)
    out = []
    while p.has_next:
        out.extend(await p.next_items())
    return out


# Sandboxes still alive at the end (a failed test) are killed by the session fixture.
CREATED = set()


@pytest.fixture(scope="session", autouse=True)
def kill_leftovers():
    yield
    for sid in list(CREATED):
        try:
            Sandbox.kill(sid)
        except Exception:
            pass


class TestSync:
    sbx = None

    def test_create(self):
        s = Sandbox.create(TEMPLATE, timeout=TTL, metadata={"suite": RUN_ID, "api": "sync"}, envs={"SUITE_ENV": "s1"})
        CREATED.add(s.sandbox_id)
        TestSync.sbx = s
        assert isinstance(s.sandbox_id, str) and s.sandbox_id
        assert s.is_running() is True
        info = s.get_info()
        assert info.sandbox_id == s.sandbox_id and info.state.value == "running"
        assert TEMPLATE in (info.template_id, info.name)

    def test_commands_run(self):
        s = TestSync.sbx
        r = s.commands.run("echo hello")
        assert r.exit_code == 0
        assert r.stdout == "hello\n"
        e = s.commands.run('cd /tmp && pwd && echo "$FOO"', envs={"FOO": "bar"})
        assert e.stdout == "/tmp\nbar\n"
        assert s.commands.run("pwd", cwd="/tmp").stdout.strip() == "/tmp"
        with pytest.raises(CommandExitException) as ei:
            s.commands.run("echo to-err >&2; exit 3")
        assert ei.value.exit_code == 3
        assert ei.value.stderr == "to-err\n"

    def test_commands_user_envs_timeout_connect(self):
        s = TestSync.sbx
        assert s.commands.run("echo $SUITE_ENV").stdout == "s1\n"  # create's envs
        assert s.commands.run("whoami", user="root").stdout == "root\n"
        with pytest.raises(TimeoutException):
            s.commands.run("sleep 30", timeout=1)
        h = s.commands.run("for i in 1 2 3; do echo $i; sleep 0.3; done", background=True)
        h.disconnect()
        r = s.commands.connect(h.pid).wait()
        assert r.exit_code == 0 and r.stdout.split()[-1] == "3"

    def test_commands_streaming(self):
        out, err = [], []
        r = TestSync.sbx.commands.run(
            "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.1; done",
            on_stdout=out.append,
            on_stderr=err.append,
        )
        assert r.exit_code == 0
        assert "".join(out) == "out1\nout2\nout3\n"
        assert "".join(err) == "err1\nerr2\nerr3\n"

    def test_commands_background_wait_kill(self):
        s = TestSync.sbx
        h = s.commands.run("sleep 1; echo done", background=True)
        assert h.pid > 0
        r = h.wait()
        assert r.exit_code == 0 and r.stdout == "done\n"
        k = s.commands.run("sleep 300", background=True)
        assert any(p.pid == k.pid for p in s.commands.list())
        assert k.kill() is True
        with pytest.raises(CommandExitException):
            k.wait()
        until("killed process to leave the list", lambda: all(p.pid != k.pid for p in s.commands.list()))

    def test_commands_stdin(self):
        s = TestSync.sbx
        h = s.commands.run("head -n 1", background=True, stdin=True)
        s.commands.send_stdin(h.pid, "from-stdin\n")
        assert h.wait().stdout == "from-stdin\n"

    def test_commands_stream_input(self):
        s = TestSync.sbx
        if not hasattr(s.commands, "stream_input"):
            pytest.skip(f"e2b {version('e2b')} has no commands.stream_input (StreamInput RPC)")
        h = s.commands.run("head -n 2", background=True, stdin=True)
        s.commands.stream_input(h.pid, ["one\n", b"two\n"])
        assert h.wait().stdout == "one\ntwo\n"

    def test_files(self):
        s = TestSync.sbx
        s.files.write(f"{DIR}/a.txt", "hello file")
        assert s.files.read(f"{DIR}/a.txt") == "hello file"
        data = bytes(range(256))
        s.files.write(f"{DIR}/b.bin", data)
        assert bytes(s.files.read(f"{DIR}/b.bin", format="bytes")) == data
        entries = s.files.list(DIR)
        assert sorted(e.name for e in entries) == ["a.txt", "b.bin"]
        a = next(e for e in entries if e.name == "a.txt")
        assert a.type.value == "file" and a.path == f"{DIR}/a.txt"
        assert s.commands.run(f"cat {DIR}/a.txt").stdout == "hello file"
        s.files.remove(f"{DIR}/b.bin")
        assert s.files.exists(f"{DIR}/b.bin") is False
        assert [e.name for e in s.files.list(DIR)] == ["a.txt"]

    def test_files_extras(self):
        s = TestSync.sbx
        d = f"{DIR}/x"
        assert s.files.make_dir(d) is True
        assert s.files.make_dir(d) is False  # already there
        infos = s.files.write_files([{"path": f"{d}/a", "data": "A"}, {"path": f"{d}/sub/b", "data": b"BB"}])
        assert sorted(i.path for i in infos) == [f"{d}/a", f"{d}/sub/b"]
        info = s.files.get_info(f"{d}/sub/b")
        assert info.size == 2 and info.type.value == "file" and info.name == "b"
        assert s.files.rename(f"{d}/a", f"{d}/c").path == f"{d}/c"
        assert sorted(e.path for e in s.files.list(d, depth=2)) == [f"{d}/c", f"{d}/sub", f"{d}/sub/b"]
        with pytest.raises(NotFoundException):
            s.files.read(f"{d}/a")
        assert b"".join(s.files.read(f"{d}/c", format="stream")) == b"A"

    def test_watch_dir(self):
        s = TestSync.sbx
        s.files.make_dir(f"{DIR}/w")
        w = s.files.watch_dir(f"{DIR}/w")
        s.files.write(f"{DIR}/w/new.txt", "x")
        seen = []

        def got():
            seen.extend(w.get_new_events())
            return any(e.name == "new.txt" and e.type in (FilesystemEventType.CREATE, FilesystemEventType.WRITE) for e in seen)

        until("watch_dir event for new.txt", got)
        w.stop()

    def test_pty(self):
        s = TestSync.sbx
        h = s.pty.create(PtySize(rows=24, cols=80))
        out = []
        # the sync handle is read by iterating it: do that in a thread
        t = threading.Thread(target=lambda: _drain_pty(h, out), daemon=True)
        t.start()
        s.pty.send_stdin(h.pid, b"echo pty-$((6*7))\n")
        until("pty output", lambda: "pty-42" in "".join(out))
        s.pty.resize(h.pid, PtySize(rows=30, cols=100))
        s.pty.send_stdin(h.pid, b"stty size\n")
        until("resized pty", lambda: "30 100" in "".join(out))
        if hasattr(s.pty, "stream_input"):  # StreamInput with pty input (2.5x+)
            s.pty.stream_input(h.pid, [b"echo si-", b"$((2*3))\n"])
            until("pty input by stream_input", lambda: "si-6" in "".join(out))
        assert s.pty.kill(h.pid) is True
        t.join(30)
        assert not t.is_alive()

    def test_list(self):
        s = TestSync.sbx
        mine = [x for x in list_all(SandboxQuery(metadata={"suite": RUN_ID})) if x.sandbox_id == s.sandbox_id]
        assert len(mine) == 1
        assert mine[0].metadata.get("suite") == RUN_ID
        assert mine[0].state.value == "running"

    def test_pause_connect(self):
        s = TestSync.sbx
        s.files.write("/tmp/before-pause", "kept")
        s.pause()
        assert Sandbox.get_info(s.sandbox_id).state.value == "paused"
        assert s.is_running() is False
        again = Sandbox.connect(s.sandbox_id, timeout=TTL)
        assert again.get_info().state.value == "running"
        assert again.files.read("/tmp/before-pause") == "kept"
        assert again.commands.run("echo resumed").stdout == "resumed\n"
        TestSync.sbx = again

    def test_kill(self):
        s = TestSync.sbx
        h = s.commands.run("sleep 120", background=True)
        assert s.kill() is True
        CREATED.discard(s.sandbox_id)
        # a command streaming when its sandbox is killed ends with an error, not a result
        with pytest.raises(SandboxException):
            h.wait()
        assert s.is_running() is False
        assert Sandbox.kill(s.sandbox_id) is False
        with pytest.raises(NotFoundException):
            Sandbox.get_info(s.sandbox_id)


def _drain_pty(h, out):
    try:
        for _stdout, _stderr, pty in h:
            if pty is not None:
                out.append(pty.decode(errors="replace"))
    except Exception:
        pass


# One event loop for the whole class: AsyncSandbox's connections belong to the loop they were
# made in.
LOOP = asyncio.new_event_loop()


def run(coro):
    return LOOP.run_until_complete(coro)


class TestAsync:
    sbx = None

    def test_create(self):
        async def t():
            s = await AsyncSandbox.create(
                TEMPLATE, timeout=TTL, metadata={"suite": RUN_ID, "api": "async"}, envs={"SUITE_ENV": "a1"}
            )
            CREATED.add(s.sandbox_id)
            TestAsync.sbx = s
            assert await s.is_running() is True
            assert TEMPLATE in ((await s.get_info()).template_id, (await s.get_info()).name)

        run(t())

    def test_commands_run(self):
        async def t():
            s = TestAsync.sbx
            r = await s.commands.run("echo hello")
            assert r.exit_code == 0 and r.stdout == "hello\n"
            with pytest.raises(CommandExitException) as ei:
                await s.commands.run("echo to-err >&2; exit 3")
            assert ei.value.exit_code == 3 and ei.value.stderr == "to-err\n"

        run(t())

    def test_commands_user_envs_timeout_connect(self):
        async def t():
            s = TestAsync.sbx
            assert (await s.commands.run("echo $SUITE_ENV")).stdout == "a1\n"
            assert (await s.commands.run("whoami", user="root")).stdout == "root\n"
            with pytest.raises(TimeoutException):
                await s.commands.run("sleep 30", timeout=1)
            h = await s.commands.run("for i in 1 2 3; do echo $i; sleep 0.3; done", background=True)
            await h.disconnect()
            r = await (await s.commands.connect(h.pid)).wait()
            assert r.exit_code == 0 and r.stdout.split()[-1] == "3"

        run(t())

    def test_commands_streaming(self):
        async def t():
            out, err = [], []
            r = await TestAsync.sbx.commands.run(
                "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.1; done",
                on_stdout=out.append,
                on_stderr=err.append,
            )
            assert r.exit_code == 0
            assert "".join(out) == "out1\nout2\nout3\n"
            assert "".join(err) == "err1\nerr2\nerr3\n"

        run(t())

    def test_commands_background_wait_kill(self):
        async def t():
            s = TestAsync.sbx
            out = []
            h = await s.commands.run("sleep 1; echo done", background=True, on_stdout=out.append)
            assert h.pid > 0
            r = await h.wait()
            assert r.exit_code == 0 and r.stdout == "done\n"
            assert "".join(out) == "done\n"
            k = await s.commands.run("sleep 300", background=True)
            assert any(p.pid == k.pid for p in await s.commands.list())
            assert await s.commands.kill(k.pid) is True
            with pytest.raises(CommandExitException):
                await k.wait()

        run(t())

    def test_commands_stdin(self):
        async def t():
            s = TestAsync.sbx
            h = await s.commands.run("head -n 1", background=True, stdin=True)
            await s.commands.send_stdin(h.pid, "from-stdin\n")
            assert (await h.wait()).stdout == "from-stdin\n"

        run(t())

    def test_commands_stream_input(self):
        async def t():
            s = TestAsync.sbx
            if not hasattr(s.commands, "stream_input"):
                pytest.skip(f"e2b {version('e2b')} has no commands.stream_input (StreamInput RPC)")
            h = await s.commands.run("head -n 2", background=True, stdin=True)
            async with s.commands.stream_input(h.pid) as inp:
                await inp.send("one\n")
                await inp.send(b"two\n")
            assert (await h.wait()).stdout == "one\ntwo\n"

        run(t())

    def test_files(self):
        async def t():
            s = TestAsync.sbx
            await s.files.write(f"{DIR}/a.txt", "hello async")
            assert await s.files.read(f"{DIR}/a.txt") == "hello async"
            data = bytes(range(256))
            await s.files.write(f"{DIR}/b.bin", data)
            assert bytes(await s.files.read(f"{DIR}/b.bin", format="bytes")) == data
            assert sorted(e.name for e in await s.files.list(DIR)) == ["a.txt", "b.bin"]
            await s.files.remove(f"{DIR}/b.bin")
            assert await s.files.exists(f"{DIR}/b.bin") is False

        run(t())

    def test_files_extras(self):
        async def t():
            s = TestAsync.sbx
            d = f"{DIR}/x"
            assert await s.files.make_dir(d) is True
            assert await s.files.make_dir(d) is False
            await s.files.write_files([{"path": f"{d}/a", "data": "A"}, {"path": f"{d}/sub/b", "data": b"BB"}])
            info = await s.files.get_info(f"{d}/sub/b")
            assert info.size == 2 and info.type.value == "file"
            assert (await s.files.rename(f"{d}/a", f"{d}/c")).path == f"{d}/c"
            assert sorted(e.path for e in await s.files.list(d, depth=2)) == [f"{d}/c", f"{d}/sub", f"{d}/sub/b"]
            with pytest.raises(NotFoundException):
                await s.files.read(f"{d}/a")

        run(t())

    def test_watch_dir(self):
        async def t():
            s = TestAsync.sbx
            await s.files.make_dir(f"{DIR}/w")
            seen = []
            w = await s.files.watch_dir(f"{DIR}/w", on_event=seen.append)
            await s.files.write(f"{DIR}/w/new.txt", "x")
            await until_async("watch_dir event for new.txt", lambda: any(e.name == "new.txt" for e in seen))
            await w.stop()

        run(t())

    def test_pty(self):
        async def t():
            s = TestAsync.sbx
            out = []
            h = await s.pty.create(PtySize(rows=24, cols=80), on_data=lambda d: out.append(d.decode(errors="replace")))
            await s.pty.send_stdin(h.pid, b"echo pty-$((6*7))\n")
            await until_async("pty output", lambda: "pty-42" in "".join(out))
            await s.pty.resize(h.pid, PtySize(rows=30, cols=100))
            await s.pty.send_stdin(h.pid, b"stty size\n")
            await until_async("resized pty", lambda: "30 100" in "".join(out))
            assert await s.pty.kill(h.pid) is True

        run(t())

    def test_list(self):
        async def t():
            s = TestAsync.sbx
            all_ = await list_all_async(SandboxQuery(metadata={"suite": RUN_ID, "api": "async"}))
            assert [x.sandbox_id for x in all_] == [s.sandbox_id]

        run(t())

    def test_pause_connect(self):
        async def t():
            s = TestAsync.sbx
            await s.files.write("/tmp/before-pause", "kept-async")
            await s.pause()
            assert (await AsyncSandbox.get_info(s.sandbox_id)).state.value == "paused"
            assert await s.is_running() is False
            again = await AsyncSandbox.connect(s.sandbox_id, timeout=TTL)
            assert await again.files.read("/tmp/before-pause") == "kept-async"
            assert (await again.commands.run("echo resumed")).stdout == "resumed\n"
            TestAsync.sbx = again

        run(t())

    def test_kill(self):
        async def t():
            s = TestAsync.sbx
            h = await s.commands.run("sleep 120", background=True)
            assert await s.kill() is True
            CREATED.discard(s.sandbox_id)
            with pytest.raises(SandboxException):
                await h.wait()
            assert await s.is_running() is False
            assert await AsyncSandbox.kill(s.sandbox_id) is False
            with pytest.raises(NotFoundException):
                await AsyncSandbox.get_info(s.sandbox_id)

        run(t())


class TestTemplate:
    """The Template SDK from Python: build on the test template, then create from the result."""

    def test_build_then_create(self):
        from e2b import Template

        name = f"py-tpl-{version('e2b').replace('.', '-')}-{os.getpid()}"
        tpl = (
            Template()
            .from_template(TEMPLATE)
            .run_cmd("echo built-by-py > /tmp/py-tpl")
            .set_envs({"PYTPL": "yes"})
        )
        logs = []
        Template.build(tpl, name, cpu_count=1, memory_mb=512, on_build_logs=logs.append)
        assert logs, "no build log entries reached on_build_logs"
        s = Sandbox.create(name, timeout=TTL, metadata={"suite": RUN_ID})
        try:
            assert s.commands.run("cat /tmp/py-tpl; echo $PYTPL").stdout == "built-by-py\nyes\n"
        finally:
            s.kill()
