//! Nothing panics on user input: every prefix of every statement in the golden suite, and
//! many single-character mutations of them, go through parsing and planning (DDL, INSERT,
//! SELECT, EXPLAIN) and must produce either a result or an error, never a panic.

use std::path::Path;
use std::sync::Arc;

use rask_connectors::builtin_registry;
use rask_sql::Session;

fn statements() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        let mut cur = Vec::new();
        let mut in_sql = false;
        for line in text.lines() {
            if line.starts_with("statement") || line.starts_with("query") || line.starts_with("explain") || line.starts_with("rows") {
                in_sql = true;
                continue;
            }
            if in_sql && (line.trim().is_empty() || line == "----") {
                if !cur.is_empty() {
                    out.push(cur.join("\n").replace("$DIR", "/nonexistent"));
                }
                cur.clear();
                in_sql = false;
                continue;
            }
            if in_sql {
                cur.push(line.to_string());
            }
        }
    }
    out
}

/// A session with the tables the golden statements refer to, so planning goes deep.
fn session() -> Session {
    let mut s = Session::new(Arc::new(builtin_registry()));
    let setup = "CREATE TABLE t (id BIGINT, name STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH ('connector'='datagen');
                 CREATE TABLE src (id BIGINT, name STRING, price DOUBLE, qty INT, ts TIMESTAMP(3), tags ARRAY<STRING>, ok BOOLEAN, d DECIMAL(10,2), s STRING, x DOUBLE, n INT, w STRING) WITH ('connector'='datagen');
                 CREATE TABLE o (id BIGINT, up STRING) WITH ('connector'='print');";
    s.execute_script(setup).unwrap();
    s
}

fn exercise(sql: &str) {
    let r = std::panic::catch_unwind(|| {
        let mut s = session();
        let _ = s.execute_script(sql);
        let _ = s.execute_script(&format!("EXPLAIN {sql}"));
    });
    assert!(r.is_ok(), "panicked on input:\n{sql}");
}

#[test]
fn prefixes_and_mutations_never_panic() {
    std::panic::set_hook(Box::new(|_| {})); // keep the output readable; failures are asserted
    let stmts = statements();
    assert!(stmts.len() > 30, "found only {} statements", stmts.len());
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let noise = ['(', ')', ',', '\'', '`', '<', '>', ';', ' ', 'X', '0', '.', '[', ']', '-'];
    let mut cases = 0;
    for st in &stmts {
        let chars: Vec<char> = st.chars().collect();
        // Every prefix, including the full statement.
        for end in 0..=chars.len() {
            exercise(&chars[..end].iter().collect::<String>());
            cases += 1;
        }
        for _ in 0..25 {
            let mut c = chars.clone();
            if c.is_empty() {
                break;
            }
            let i = (next() as usize) % c.len();
            match next() % 3 {
                0 => {
                    c.remove(i);
                }
                1 => c.insert(i, noise[(next() as usize) % noise.len()]),
                _ => c[i] = noise[(next() as usize) % noise.len()],
            }
            exercise(&c.into_iter().collect::<String>());
            cases += 1;
        }
    }
    let _ = std::panic::take_hook();
    eprintln!("no_panic: {cases} inputs from {} statements", stmts.len());
}
