// StatementResults: the answers of POST /statements — DDL messages, SHOW/DESCRIBE tables and
// EXPLAIN plans.
import type { StatementResult } from "../api/client";

export function StatementResults({ results }: { results: StatementResult[] }) {
  if (results.length === 0) return <p className="muted">No statements.</p>;
  return (
    <div className="statement-results" id="statement-results">
      {results.map((r, i) => (
        <section key={i} className="statement-result" data-kind={r.kind}>
          <pre className="statement-text">{r.statement}</pre>
          {r.message && <p className="ok-text">{r.message}</p>}
          {r.header && (
            <div className="table-scroll">
              <table className="data">
                <thead>
                  <tr>
                    {r.header.map((h) => (
                      <th key={h} scope="col">
                        {h}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {(r.rows ?? []).map((row, j) => (
                    <tr key={j}>
                      {row.map((v, k) => (
                        <td key={k}>{v}</td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {r.plan && <pre className="plan">{r.plan}</pre>}
        </section>
      ))}
    </div>
  );
}
