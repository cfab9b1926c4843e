// usePoll: call an API function now and again every `intervalMs` (one call at a time), keeping
// the last good answer and the last error so that pages can show both.
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, toApiError } from "./api/client";

export interface Polled<T> {
  data?: T;
  error?: ApiError;
  /** Call again now (e.g. after an action). */
  refresh: () => void;
}

export function usePoll<T>(fn: () => Promise<T>, intervalMs: number | null, deps: readonly unknown[]): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const kick = useRef<() => void>(() => {});

  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let inFlight = false;
    let again = false;
    setData(undefined);
    setError(undefined);
    const run = async () => {
      if (!alive) return;
      if (inFlight) {
        again = true;
        return;
      }
      inFlight = true;
      again = false;
      clearTimeout(timer);
      try {
        const d = await fnRef.current();
        if (alive) {
          setData(d);
          setError(undefined);
        }
      } catch (e) {
        if (alive) setError(toApiError(e));
      } finally {
        inFlight = false;
        if (alive && again) void run();
        else if (alive && intervalMs != null) timer = setTimeout(run, intervalMs);
      }
    };
    kick.current = () => void run();
    void run();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [intervalMs, ...deps]);

  const refresh = useCallback(() => kick.current(), []);
  return { data, error, refresh };
}
