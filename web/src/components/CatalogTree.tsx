// CatalogTree: the catalog as a keyboard-usable tree (catalog → database → tables and views →
// columns) beside the editor; a table's name can be inserted into the editor.
import type { CatalogTree as Tree } from "../api/client";
import { href } from "../router";
import { CatalogTableLabel } from "./CatalogTableLabel";

interface Props {
  tree?: Tree;
  onInsert?: (text: string) => void;
}

export function CatalogTree({ tree, onInsert }: Props) {
  if (!tree) return <p className="muted small">Loading…</p>;
  return (
    <div className="catalog-tree" id="catalog-tree">
      <details open>
        <summary>
          <span className="tree-icon" aria-hidden>
            ◆
          </span>
          {tree.catalog}
        </summary>
        {tree.databases.map((db) => (
          <details open key={db.name} className="tree-db">
            <summary>
              <span className="tree-icon" aria-hidden>
                ▣
              </span>
              {db.name} <span className="muted small">({db.tables.length})</span>
            </summary>
            {db.tables.length === 0 && <p className="muted small tree-empty">No tables yet.</p>}
            {db.tables.map((t) => (
              <details key={t.name} className="tree-table" data-table={t.name}>
                <summary>
                  <CatalogTableLabel table={t} />
                </summary>
                <ul className="tree-columns">
                  {t.columns.map((c) => (
                    <li key={c.name}>
                      <span>{c.name}</span> <span className="muted small">{c.type}</span>
                    </li>
                  ))}
                </ul>
                <div className="tree-actions">
                  {onInsert && (
                    <button type="button" className="link small" onClick={() => onInsert(t.name)}>
                      Insert name
                    </button>
                  )}
                  <a className="small" href={href({ page: "catalog", database: db.name, table: t.name })}>
                    DDL
                  </a>
                </div>
              </details>
            ))}
          </details>
        ))}
      </details>
    </div>
  );
}
