# envd's Connect protobuf codec, in a real sandbox reached through wrenn-agent's proxy: the
# requests are protobuf messages built here with the SDK's own generated classes (protobuf-py,
# an implementation independent of envd's protobuf-c), sent as application/proto (unary) and
# application/connect+proto (server streaming); the answers are decoded the same way.
# Run by tests/integration/71-e2b-py.t with the latest SDK's venv.
import json
import os
import struct
import threading
import time

import httpx
from e2b.envd.filesystem import filesystem_pb as fs
from e2b.envd.process import process_pb as pr
from protobuf import Oneof

TEMPLATE = os.environ.get("WRENN_E2B_TEMPLATE") or "minimal"
API = os.environ.get("E2B_API_URL", "")
PX = os.environ.get("E2B_SANDBOX_URL", "")
KEY = os.environ.get("E2B_API_KEY", "")
ENVD_PORT = 49983
S = {}


def envd(path, body, content_type, headers_extra=None, **kw):
    h = {
        "Content-Type": content_type,
        "Connect-Protocol-Version": "1",
        "E2b-Sandbox-Id": S["id"],
        "E2b-Sandbox-Port": str(ENVD_PORT),
    }
    if S.get("token"):
        h["X-Access-Token"] = S["token"]
    h.update(headers_extra or {})
    return httpx.post(f"{PX}/{path}", content=body, headers=h, timeout=120, **kw)


def envelope(msg):
    return b"\0" + struct.pack(">I", len(msg)) + msg


def frames(body):
    """Connect envelopes -> [(flags, payload)]; the whole body must be frames."""
    out = []
    while body:
        assert len(body) >= 5, f"truncated envelope header: {body!r}"
        n = struct.unpack(">I", body[1:5])[0]
        assert len(body) >= 5 + n, "truncated envelope"
        out.append((body[0], body[5 : 5 + n]))
        body = body[5 + n :]
    return out


def test_create():
    r = httpx.post(
        f"{API}/sandboxes",
        json={"templateID": TEMPLATE, "timeout": 300, "metadata": {"suite": "envd-proto"}},
        headers={"X-API-Key": KEY},
        timeout=180,
    )
    assert r.status_code == 201, r.text
    S["id"] = r.json()["sandboxID"]
    S["token"] = r.json().get("envdAccessToken")


def test_unary_make_dir_and_list_dir():
    r = envd("filesystem.Filesystem/MakeDir", fs.MakeDirRequest(path="/tmp/proto-dir").to_binary(), "application/proto")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/proto"
    made = fs.MakeDirResponse.from_binary(r.content)
    assert made.entry.name == "proto-dir"
    assert made.entry.type == fs.FileType.DIRECTORY
    r = envd("filesystem.Filesystem/ListDir", fs.ListDirRequest(path="/tmp", depth=1).to_binary(), "application/proto")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/proto"
    entries = {e.name: e for e in fs.ListDirResponse.from_binary(r.content).entries}
    assert "proto-dir" in entries, sorted(entries)
    assert entries["proto-dir"].path == "/tmp/proto-dir"
    assert entries["proto-dir"].type == fs.FileType.DIRECTORY


def test_unary_stat_int64_and_timestamp():
    r = envd("filesystem.Filesystem/Stat", fs.StatRequest(path="/bin/bash").to_binary(), "application/proto")
    assert r.status_code == 200, r.text
    e = fs.StatResponse.from_binary(r.content).entry
    assert e.name == "bash" and e.type == fs.FileType.FILE
    assert e.size > 100_000  # int64 on the wire (a JSON string inside envd)
    assert abs(e.modified_time.seconds - time.time()) < 20 * 365 * 86400
    assert e.permissions.startswith("-r")


def test_unary_error_is_connect_json():
    r = envd("filesystem.Filesystem/Stat", fs.StatRequest(path="/no/such/file").to_binary(), "application/proto")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["code"] == "not_found"


def test_unary_bad_protobuf_is_invalid_argument():
    r = envd("filesystem.Filesystem/Stat", b"\x0a\x09/tr", "application/proto")
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_argument"


def test_unknown_method_is_unimplemented():
    r = envd("filesystem.Filesystem/Frobnicate", b"", "application/proto")
    assert r.status_code == 501
    assert r.json()["code"] == "unimplemented"


def test_stream_start_echo():
    req = pr.StartRequest(process=pr.ProcessConfig(cmd="/bin/sh", args=["-c", "echo hi"], envs={"A": "b"}))
    r = envd("process.Process/Start", envelope(req.to_binary()), "application/connect+proto")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/connect+proto"
    fr = frames(r.content)
    assert fr[-1][0] == 2, "last frame is the end-of-stream message"
    assert json.loads(fr[-1][1]) == {}
    assert all(flags == 0 for flags, _ in fr[:-1])
    events = [pr.StartResponse.from_binary(p).event.event for _, p in fr[:-1]]
    kinds = [e.field for e in events if e.field != "keepalive"]
    assert kinds[0] == "start" and kinds[-1] == "end", kinds
    assert events[0].value.pid > 0
    out = b"".join(e.value.output.value for e in events if e.field == "data" and e.value.output.field == "stdout")
    assert out == b"hi\n"
    end = [e.value for e in events if e.field == "end"][0]
    assert end.exited is True and end.exit_code == 0


def test_stream_exit_code_and_stderr():
    req = pr.StartRequest(process=pr.ProcessConfig(cmd="/bin/sh", args=["-c", "echo oops >&2; exit 7"]))
    r = envd("process.Process/Start", envelope(req.to_binary()), "application/connect+proto")
    fr = frames(r.content)
    events = [pr.StartResponse.from_binary(p).event.event for _, p in fr[:-1]]
    err = b"".join(e.value.output.value for e in events if e.field == "data" and e.value.output.field == "stderr")
    assert err == b"oops\n"
    end = [e.value for e in events if e.field == "end"][0]
    assert end.exit_code == 7  # sint32 on the wire


def test_stream_deadline_exceeded():
    # Connect-Timeout-Ms bounds the call: the stream ends with deadline_exceeded (not with the
    # end event of the process envd kills at that moment, as E2B's envd does)
    req = pr.StartRequest(process=pr.ProcessConfig(cmd="/bin/sh", args=["-c", "sleep 30"]), tag="dl")
    t0 = time.monotonic()
    r = envd("process.Process/Start", envelope(req.to_binary()), "application/connect+proto", headers_extra={"Connect-Timeout-Ms": "1500"})
    assert time.monotonic() - t0 < 20
    fr = frames(r.content)
    assert fr[-1][0] == 2 and json.loads(fr[-1][1])["error"]["code"] == "deadline_exceeded", fr[-1]
    events = [pr.StartResponse.from_binary(p).event.event.field for fl, p in fr if fl == 0]
    assert "end" not in events, events
    for _ in range(50):
        r = envd("process.Process/List", pr.ListRequest().to_binary(), "application/proto")
        if not any(x.tag == "dl" for x in pr.ListResponse.from_binary(r.content).processes):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the timed-out process is still running")


def test_client_stream_input():
    # a process reading two lines, fed by StreamInput (client streaming, a chunked body of
    # envelopes sent one by one) while its Start stream is read in a thread
    out = {}

    def start():
        req = pr.StartRequest(process=pr.ProcessConfig(cmd="/bin/sh", args=["-c", "head -n 2"]), tag="si", stdin=True)
        out["r"] = envd("process.Process/Start", envelope(req.to_binary()), "application/connect+proto")

    t = threading.Thread(target=start)
    t.start()
    sel = pr.ProcessSelector(selector=Oneof("tag", "si"))

    def data(b):
        return pr.StreamInputRequest(event=Oneof("data", pr.StreamInputRequest.DataEvent(input=pr.ProcessInput(input=Oneof("stdin", b)))))

    msgs = [
        pr.StreamInputRequest(event=Oneof("start", pr.StreamInputRequest.StartEvent(process=sel))),
        data(b"a\n"),
        pr.StreamInputRequest(event=Oneof("keepalive", pr.StreamInputRequest.KeepAlive())),
        data(b"b\n"),
    ]

    def body():
        for m in msgs:
            yield envelope(m.to_binary())
            time.sleep(0.2)

    # the process must exist before its input stream starts
    for _ in range(100):
        r = envd("process.Process/List", pr.ListRequest().to_binary(), "application/proto")
        if any(x.tag == "si" for x in pr.ListResponse.from_binary(r.content).processes):
            break
        time.sleep(0.1)
    r = envd("process.Process/StreamInput", body(), "application/connect+proto")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/connect+proto"
    fr = frames(r.content)
    assert [f[0] for f in fr] == [0, 2], fr
    assert pr.StreamInputResponse.from_binary(fr[0][1]) == pr.StreamInputResponse()
    assert json.loads(fr[1][1]) == {}
    t.join(60)
    events = [pr.StartResponse.from_binary(p).event.event for fl, p in frames(out["r"].content) if fl == 0]
    got = b"".join(e.value.output.value for e in events if e.field == "data")
    assert got == b"a\nb\n"


def test_stream_error_end_frame():
    body = pr.ConnectRequest(process=pr.ProcessSelector(selector=Oneof("pid", 999999))).to_binary()
    r = envd("process.Process/Connect", envelope(body), "application/connect+proto")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/connect+proto"
    fr = frames(r.content)
    assert len(fr) == 1 and fr[0][0] == 2, fr
    assert json.loads(fr[0][1])["error"]["code"] == "not_found"


def test_json_codec_still_answers_json():
    r = envd("filesystem.Filesystem/Stat", json.dumps({"path": "/tmp/proto-dir"}).encode(), "application/json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["entry"]["type"] == "FILE_TYPE_DIRECTORY"


def test_kill():
    r = httpx.delete(f"{API}/sandboxes/{S['id']}", headers={"X-API-Key": KEY}, timeout=60)
    assert r.status_code == 204, r.text
