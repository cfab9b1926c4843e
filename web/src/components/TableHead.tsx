// TableHead: a data table's header row (<thead><tr><th scope="col">…) from a list of column
// labels; numeric columns get className="num" so they align with their right-aligned cells.
export interface Column {
  label: string;
  num?: boolean;
}

export function TableHead({ columns }: { columns: Column[] }) {
  return (
    <thead>
      <tr>
        {columns.map((c, i) => (
          <th key={i} scope="col" className={c.num ? "num" : undefined}>
            {c.label}
          </th>
        ))}
      </tr>
    </thead>
  );
}
