#!/usr/bin/env python3
"""Regenerate tests/golden/nexmark*.slt: the Nexmark queries Rask runs, on the built-in
generator with a fixed seed, with Apache Flink 2.3's rows as the expected output.

How: Rask writes the generator's events to a JSON file (filesystem sink, nested ROWs); Flink
(the peer in ../shared/peers/flink) reads that file with the same DDL shape and runs the same
query text into print sinks; its printed rows become the expected rows of `query` records whose
SQL reads the `nexmark` connector directly. So the golden files check the generator and the
engine together against Flink.

usage: scripts/nexmark-golden.py [FILE.slt …]   (needs a built rask and the Flink peer; default: all)
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RASK = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/rask-target")), "debug", "rask")
GENERATOR_DEFAULTS = "    'first-event.rate' = '10000000',\n    'events.num' = '10000000'\n"

# (file, events, event-time rate per second, queries)
SUITES = [
    ("nexmark_stateless.slt", 150, 100, ["q0", "q1", "q14", "q21", "q22"]),
    ("nexmark_windows.slt", 3000, 100, ["q2", "q5", "q8", "q11"]),
    ("nexmark_updating.slt", 3000, 100, ["q3", "q4", "q7", "q9", "q15", "q16", "q17", "q18", "q19", "q20"]),
    ("nexmark_q6.slt", 3000, 100, ["q6"]),
]
# Queries Flink refuses in streaming mode (q6: an OVER aggregation over an updating input):
# their expected table is Flink's batch-mode result for the same events (a suite of these runs
# Flink with --batch).
BATCH = {"q6"}
# Queries whose result is a changelog: compared as the table it materialises (`query changelog
# table`), printed without an identifier (a changelog row starts with its kind).
UPDATING = {"q4", "q6", "q9", "q15", "q16", "q17", "q18", "q19"}
# Flink prints q9 (a Top-1 without the row number) as an upsert changelog: +U replaces the row
# of the same partition key without a -U. Rask emits -U/+U; the script adds the -U Flink
# leaves out (the key is the first column, the auction id) so both materialise alike.
UPSERT_KEY_FIRST_COLUMN = {"q9"}


def with_update_before(changes):
    """An upsert changelog keyed by its first column as a retract changelog."""
    last, out = {}, []
    for c in changes:
        kind, row = c[:2], c[2:]
        key = row[1:].split(",", 1)[0]
        if kind == "+U" and key in last:
            out.append("-U" + last[key])
        if kind in ("+I", "+U"):
            last[key] = row
        elif kind == "-D":
            last.pop(key, None)
        out.append(c)
    return out


def statements(sql):
    """Statements of a script without comments and blank lines, without the final ';'."""
    text = "\n".join(l for l in sql.splitlines() if not l.strip().startswith("--") and l.strip())
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", text) if s.strip()]


def generator_ddl(events, rate):
    ddl = open(os.path.join(ROOT, "nexmark", "ddl.sql")).read()
    assert GENERATOR_DEFAULTS in ddl
    return ddl.replace(GENERATOR_DEFAULTS, "    'first-event.rate' = '%d',\n    'events.num' = '%d',\n"
                       "    'seed' = '1',\n    'base-time' = '2024-01-01 00:00:00'\n" % (rate, events))


UDF_FILE = os.path.join(ROOT, "nexmark", "udf", "nexmark_udf.py")


def query(name, identifier=True, udf_path=UDF_FILE):
    """The query's statements with its blackhole sink turned into a print sink (q14's Python
    UDF file at `udf_path`)."""
    sql = open(os.path.join(ROOT, "nexmark", "queries", name + ".sql")).read()
    sql = sql.replace("${NEXMARK_UDF}", udf_path)
    ident = ", 'print-identifier' = '%s'" % name if identifier else ""
    sql = sql.replace("WITH ('connector' = 'blackhole')", "WITH ('connector' = 'print'%s)" % ident)
    return statements(sql)


def main():
    tmp = tempfile.mkdtemp()
    only = sys.argv[1:]
    for fname, events, rate, names in SUITES:
        if only and fname not in only:
            continue
        gen = statements(generator_ddl(events, rate))
        dump_dir = os.path.join(tmp, fname + ".events")
        # 1. The generator's events as JSON.
        dump = os.path.join(tmp, fname + ".dump.sql")
        row_types = re.search(r"CREATE TABLE nexmark \((.*?),\s*`dateTime` AS", gen[0], re.S).group(1)
        with open(dump, "w") as f:
            f.write(gen[0] + ";\n")
            f.write("CREATE TABLE dump (%s) WITH ('connector'='filesystem','path'='%s','format'='json');\n" % (row_types, dump_dir))
            f.write("INSERT INTO dump SELECT event_type, person, auction, bid FROM nexmark;\n")
        subprocess.run([RASK, "run", dump, "--progress", "none"], check=True)
        # 2. Flink on that file: the peer's DDL shape with a filesystem source.
        flink_ddl = gen[0].replace(re.search(r"WITH \(.*\)\s*$", gen[0], re.S).group(0),
                                   "WITH ('connector' = 'filesystem', 'path' = '%s', 'format' = 'json')" % dump_dir)
        script = [flink_ddl] + gen[1:]
        for n in names:
            script += query(n)
        fs = os.path.join(tmp, fname + ".flink.sql")
        with open(fs, "w") as f:
            f.write(";\n".join(script) + ";\n")
        batch = ["--batch"] if all(n in BATCH for n in names) else []
        assert batch or not any(n in BATCH for n in names), "a suite runs in one Flink mode"
        out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "flink-run.py"), fs] + batch,
                             capture_output=True, text=True, check=True).stdout
        rows = {}
        for line in out.splitlines():
            m = re.match(r"^(q\d+)(?::\d+)?> (.*)$", line)
            if m:
                rows.setdefault(m.group(1), []).append("%s> %s" % (m.group(1), m.group(2)))
        # 3. The golden file: the generator directly, Flink's rows expected.
        lines = ["# Nexmark %s on the built-in generator (%d events, %d events/s of event time, seed 1)."
                 % (", ".join(names), events, rate),
                 "# Expected rows: Apache Flink 2.3's output for the same events (written out by this generator",
                 "# as JSON and read by Flink%s). Regenerate with scripts/nexmark-golden.py."
                 % (" in batch mode: it refuses the query in streaming mode" if batch else ""), ""]
        for s in gen:
            lines += ["statement ok", s, ""]
        if any("${NEXMARK_UDF}" in open(os.path.join(ROOT, "nexmark", "queries", n + ".sql")).read() for n in names):
            lines += ["file nexmark_udf.py"] + open(UDF_FILE).read().rstrip("\n").splitlines() + ["end", ""]
        for n in names:
            updating = n in UPDATING
            stmts = query(n, identifier=not updating, udf_path="$DIR/nexmark_udf.py")
            for s in stmts[:-1]:
                lines += ["statement ok", s, ""]
            if updating:
                # Flink's changelog in its order (the table it leaves is what is compared).
                changes = [r.split("> ", 1)[1] for r in rows.get(n, [])]
                if n in UPSERT_KEY_FIRST_COLUMN:
                    changes = with_update_before(changes)
                lines += ["query changelog table", stmts[-1], "----"] + changes + [""]
            else:
                lines += ["query", stmts[-1], "----"] + sorted(rows.get(n, [])) + [""]
        with open(os.path.join(ROOT, "tests", "golden", fname), "w") as f:
            f.write("\n".join(lines))
        print("%s: %s" % (fname, ", ".join("%s %d rows" % (n, len(rows.get(n, []))) for n in names)))


if __name__ == "__main__":
    main()
