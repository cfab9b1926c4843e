// SqlEditor: CodeMirror 6 with Flink SQL highlighting, completion of the catalog's tables and
// columns, Ctrl/Cmd+Enter to run, and server errors shown as lint diagnostics at their line and
// column.
import { useEffect, useImperativeHandle, useRef, type Ref } from "react";
import { basicSetup } from "codemirror";
import { Compartment, EditorState, Prec } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import { sql, type SQLNamespace } from "@codemirror/lang-sql";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { FlinkSQL } from "./flinkDialect";

/** A problem at a 1-based line and column of the text that was submitted. */
export interface SqlProblem {
  message: string;
  line: number;
  column?: number;
  severity?: "error" | "warning";
}

/** What the page can ask of the editor. */
export interface SqlEditorHandle {
  /** The text to submit: the selection when there is one, else the whole document. */
  statementText(): { text: string; offset: number };
  text(): string;
  setText(text: string): void;
  /** Insert text at the cursor (replacing the selection). */
  insert(text: string): void;
  /** Mark problems; positions are relative to the submitted text that started at `offset`. */
  showProblems(problems: SqlProblem[], offset: number): void;
  focus(): void;
}

interface Props {
  ref?: Ref<SqlEditorHandle>;
  initialText: string;
  schema?: SQLNamespace;
  onChange?: (text: string) => void;
  onRun?: () => void;
  id?: string;
  label: string;
}

/** The document offset of a 1-based line and column of text submitted from `offset`. */
function position(state: EditorState, offset: number, line: number, column: number): number {
  const doc = state.doc;
  const start = doc.lineAt(Math.min(offset, doc.length));
  const lineNo = Math.min(doc.lines, start.number + Math.max(0, line - 1));
  const l = doc.line(lineNo);
  const from = line <= 1 ? offset : l.from;
  return Math.max(l.from, Math.min(l.to, from + Math.max(0, column - 1)));
}

export function SqlEditor({ ref, initialText, schema, onChange, onRun, id, label }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const language = useRef(new Compartment());
  const onRunRef = useRef(onRun);
  onRunRef.current = onRun;
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;

  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: initialText,
        extensions: [
          Prec.highest(
            keymap.of([
              {
                key: "Mod-Enter",
                run: () => {
                  onRunRef.current?.();
                  return true;
                },
              },
            ]),
          ),
          basicSetup,
          language.current.of(sql({ dialect: FlinkSQL, upperCaseKeywords: true })),
          lintGutter(),
          EditorView.lineWrapping,
          EditorView.contentAttributes.of({ "aria-label": label, "aria-multiline": "true" }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) onChangeRef.current?.(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // The editor is created once; initialText only seeds it.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    view.current?.dispatch({
      effects: language.current.reconfigure(sql({ dialect: FlinkSQL, upperCaseKeywords: true, schema })),
    });
  }, [schema]);

  useImperativeHandle(
    ref,
    () => ({
      statementText() {
        const v = view.current;
        if (!v) return { text: "", offset: 0 };
        const sel = v.state.selection.main;
        if (!sel.empty) return { text: v.state.sliceDoc(sel.from, sel.to), offset: sel.from };
        return { text: v.state.doc.toString(), offset: 0 };
      },
      text: () => view.current?.state.doc.toString() ?? "",
      setText(text: string) {
        const v = view.current;
        if (v) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: text } });
      },
      insert(text: string) {
        const v = view.current;
        if (!v) return;
        v.dispatch(v.state.replaceSelection(text));
        v.focus();
      },
      showProblems(problems: SqlProblem[], offset: number) {
        const v = view.current;
        if (!v) return;
        const diagnostics: Diagnostic[] = problems.map((p) => {
          const from = position(v.state, offset, p.line, p.column ?? 1);
          const line = v.state.doc.lineAt(from);
          // Underline the word at the position (at least one character) when a column is known,
          // else the whole line.
          let to = from;
          if (p.column == null) {
            return { from: line.from, to: line.to, severity: p.severity ?? "error", message: p.message };
          }
          while (to < line.to && /[\w$`'"]/.test(v.state.sliceDoc(to, to + 1))) to++;
          if (to === from) to = Math.min(line.to, from + 1);
          const start = to === from && from > line.from ? from - 1 : from;
          return { from: start, to, severity: p.severity ?? "error", message: p.message };
        });
        v.dispatch(setDiagnostics(v.state, diagnostics));
      },
      focus: () => view.current?.focus(),
    }),
    [],
  );

  return <div className="sql-editor" id={id} ref={host} />;
}
