// WAL checkpoints off the request path. A checkpoint copies the WAL back into the database file
// and fsyncs it; run inside a commit (SQLite's default) it more than doubled the cost of an
// append under load (measured in bench). Here a worker thread with its own connection runs a
// PASSIVE checkpoint on a timer: it never blocks the writer, and the writer's next commit
// restarts the WAL once a checkpoint has caught up.
//
// The worker's code is inline (a blob URL) so it runs the same from source and from the
// compiled binary, where there is no file to point a Worker at.

const WORKER_CODE = `
import { Database } from "bun:sqlite";
let db;
let timer;
self.onmessage = (event) => {
  const { path, everyMs } = event.data;
  db = new Database(path, { strict: true });
  db.run("PRAGMA busy_timeout = 1000");
  const checkpoint = db.query("PRAGMA wal_checkpoint(PASSIVE)");
  timer = setInterval(() => {
    try {
      checkpoint.get();
    } catch (error) {
      postMessage({ error: String(error && error.message || error) });
    }
  }, everyMs);
};
`;

export interface Checkpointer {
  stop(): void;
}

/**
 * Start checkpointing `path` every `everyMs` in a worker. `onFailure` is called if the worker
 * cannot run, so the caller can fall back to checkpoints in its own commits.
 */
export function startCheckpointer(path: string, everyMs: number, onFailure: (reason: string) => void): Checkpointer {
  let worker: Worker;
  try {
    worker = new Worker(URL.createObjectURL(new Blob([WORKER_CODE], { type: "application/javascript" })));
  } catch (error) {
    onFailure((error as Error).message);
    return { stop() {} };
  }
  let failed = false;
  const fail = (reason: string) => {
    if (failed) return;
    failed = true;
    onFailure(reason);
  };
  worker.onerror = (event) => fail(event.message || "checkpoint worker failed");
  worker.onmessage = (event: MessageEvent<{ error?: string }>) => {
    if (event.data.error) fail(event.data.error);
  };
  worker.postMessage({ path, everyMs });
  worker.unref();
  return {
    stop() {
      worker.terminate();
    },
  };
}
