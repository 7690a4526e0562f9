"""The benchmark runner's smoke mode (benches/run.py --quick): it runs, and writes a well-formed
Markdown table, its JSON and SVG plots. Only the cheap sections run (the native libfido2 client
against authsim and the reference authenticator, a few hundred operations; the qemu section
without a log). Nothing here looks at how fast anything was: a benchmark is never a timed
assertion."""
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

from conftest import authsim_bin

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
NUMBER = re.compile(r"^[0-9][0-9,]*(\.[0-9]+)? (ms|/s)$|^[0-9][0-9,]*(\.[0-9]+)?/s$")


def cells(line):
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def test_quick_run_writes_a_well_formed_table(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "AUTHSIM_QEMU_LOG"}
    p = subprocess.run([sys.executable, os.path.join(ROOT, "benches", "run.py"), "--quick",
                        "--only", "native,qemu", "--out", str(tmp_path),
                        "--authsim-bin", authsim_bin()],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    md = (tmp_path / "results.md").read_text()
    assert md.startswith("# authsim performance\n")
    assert "quick run" in md and "cores" in md and "commit" in md

    tables, current = [], None
    for line in md.splitlines():
        if line.startswith("|"):
            if current is None:
                current = []
                tables.append(current)
            current.append(cells(line))
        else:
            current = None
    assert len(tables) == 2, md  # the native latencies and the throughput table
    for t in tables:
        header, sep, *rows = t
        assert header[0] == "Figure" and len(header) == 8
        assert all(re.fullmatch(r"-+:?", c) for c in sep) and len(sep) == 8
        assert rows and all(len(r) == 8 for r in rows), t
        for r in rows:
            # authsim's median, the competitor's median, and their ratio are all figures.
            assert NUMBER.match(r[1]) and NUMBER.match(r[4]), r
            assert re.fullmatch(r"[0-9.e+-]+×", r[6]), r
    names = [r[0] for t in tables for r in t[2:]]
    assert any(n.startswith("getAssertion over the socket") for n in names)
    assert any(n.startswith("makeCredential over the socket") for n in names)
    assert [n for n in names if n.startswith("getAssertion/s")] == [
        "getAssertion/s, 1 client (threads, one connection each)",
        "getAssertion/s, 4 clients (threads, one connection each)",
        "getAssertion/s, 16 clients (threads, one connection each)"]
    assert "Not run: no AUTHSIM_QEMU_LOG" in md

    data = json.loads((tmp_path / "results.json").read_text())
    assert data["machine"]["mode"] == "quick"
    statuses = {r["section"]: r["status"] for r in data["rows"]}
    assert statuses == {"native": "ok", "throughput": "ok", "qemu": "not run"}
    for who in ("authsim", "reference"):
        assert [t["clients"] for t in data["raw"]["native"][who]["throughput"]] == [1, 4, 16]

    for svg in ("latency.svg", "throughput.svg"):
        root = ET.parse(tmp_path / svg).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert f"({svg})" in md
