import { closeSync, fsyncSync, openSync } from "node:fs";

/** One short line for a file-system error, for a CLI line or a start-up error (never a stack). */
export function fileErrorReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EROFS") return "read-only file system";
  if (code === "ENOSPC") return "no space left on device";
  if (code === "ENOENT") return "no such file or directory";
  if (code === "ENOTDIR") return "a parent is not a directory";
  if (code === "EISDIR") return "is a directory";
  return ((error as Error)?.message ?? String(error)).split("\n")[0]!;
}

/** Flush a file (or, opened read-only, a directory entry) to disk. */
export function fsyncPath(path: string, flags: "r" | "r+" = "r+"): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
