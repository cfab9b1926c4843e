// Tabs: an accessible tab strip (arrow keys move between tabs) over panels rendered on demand.
import { useId, useRef, type KeyboardEvent, type ReactNode } from "react";

export interface Tab {
  key: string;
  label: ReactNode;
  render: () => ReactNode;
}

interface Props {
  tabs: Tab[];
  active: string;
  onChange: (key: string) => void;
  label: string;
}

export function Tabs({ tabs, active, onChange, label }: Props) {
  const base = useId();
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const current = tabs.find((t) => t.key === active) ?? tabs[0];
  const onKey = (e: KeyboardEvent, i: number) => {
    let j = -1;
    if (e.key === "ArrowRight") j = (i + 1) % tabs.length;
    else if (e.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
    else if (e.key === "Home") j = 0;
    else if (e.key === "End") j = tabs.length - 1;
    if (j < 0) return;
    e.preventDefault();
    const t = tabs[j];
    if (t) onChange(t.key);
    refs.current[j]?.focus();
  };
  return (
    <div className="tabs">
      <div role="tablist" aria-label={label} className="tablist">
        {tabs.map((t, i) => (
          <button
            key={t.key}
            ref={(el) => {
              refs.current[i] = el;
            }}
            type="button"
            role="tab"
            id={`${base}-tab-${t.key}`}
            aria-selected={t.key === current?.key}
            aria-controls={`${base}-panel`}
            tabIndex={t.key === current?.key ? 0 : -1}
            className={t.key === current?.key ? "tab active" : "tab"}
            onClick={() => onChange(t.key)}
            onKeyDown={(e) => onKey(e, i)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`${base}-panel`} aria-labelledby={`${base}-tab-${current?.key}`} className="tabpanel" tabIndex={0}>
        {current?.render()}
      </div>
    </div>
  );
}
