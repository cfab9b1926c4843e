#!/usr/bin/env python3
"""Run a Flink SQL script on real Apache Flink (the peer in ../shared/peers/flink: pyflink, local
MiniCluster, streaming mode — or batch mode with --batch — UTC) and wait for its INSERT jobs: the peer's run_script.py plus
`SET 'key' = 'value'` statements, which pyflink's execute_sql does not take (they go to the
table config), so that scripts with Python UDFs (`python.files`, `python.executable`) run.

usage: scripts/flink-run.py SCRIPT.sql [--parallelism P] [--batch]
"""
import os
import re
import sys

VENV = os.environ.get("FLINK_PEER_VENV", os.path.expanduser("~/.cache/flink-peer-venv"))
VPY = os.path.join(VENV, "bin", "python")
if os.path.realpath(sys.prefix) != os.path.realpath(VENV) and os.path.exists(VPY):
    os.execv(VPY, [VPY] + sys.argv)
import argparse  # noqa: E402

from pyflink.table import EnvironmentSettings, TableEnvironment  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("script")
ap.add_argument("--parallelism", type=int, default=1)
ap.add_argument("--batch", action="store_true", help="run in batch mode (a reference for queries Flink cannot run streaming)")
a = ap.parse_args()
env = TableEnvironment.create(EnvironmentSettings.in_batch_mode() if a.batch else EnvironmentSettings.in_streaming_mode())
config = env.get_config()
config.set("parallelism.default", str(a.parallelism))
config.set("table.local-time-zone", "UTC")
config.set("python.executable", sys.executable)
config.set("python.client.executable", sys.executable)
text = "\n".join(l for l in open(a.script).read().splitlines() if not l.strip().startswith("--"))
stmts = [s.strip() for s in re.split(r";\s*\n", text + "\n") if s.strip()]
i = 0
while i < len(stmts):
    s = stmts[i]
    m = re.match(r"(?is)^SET\s+'([^']*)'\s*=\s*'([^']*)'$", s)
    if m:
        config.set(m.group(1), m.group(2))
        if m.group(1) == "python.files":
            # Catalog Python functions are instantiated in this (the client) process too.
            for f in m.group(2).split(","):
                f = f.strip()
                sys.path.append(os.path.dirname(f) if f.endswith(".py") else f)
    elif re.match(r"(?is)^EXECUTE\s+STATEMENT\s+SET\s+BEGIN\s+", s):
        ss = env.create_statement_set()
        parts = [re.sub(r"(?is)^EXECUTE\s+STATEMENT\s+SET\s+BEGIN\s+", "", s)]
        i += 1
        while i < len(stmts) and stmts[i].upper() != "END":
            parts.append(stmts[i])
            i += 1
        for p in parts:
            ss.add_insert_sql(p)
        ss.execute().wait()
    else:
        r = env.execute_sql(s)
        if s.upper().startswith("INSERT"):
            r.wait()
        elif re.match(r"(?is)^(EXPLAIN|SHOW|DESCRIBE)\b", s):
            r.print()
    i += 1
print("done", len(stmts), "statements")
