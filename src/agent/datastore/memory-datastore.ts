// A test double: the Datastore semantics (shared with FileDatastore through RecordStore) over an
// in-memory map of relative paths, for code that needs a datastore but no disk. Not for production:
// nothing is shared between processes or survives a restart.
import { DatastoreError, layout, type ReadResult, RecordStore } from "./datastore.ts";

const topDirs = new Set<string>([layout.hostsDir, layout.vmsDir, layout.poweredOffDir]);

export class MemoryDatastore extends RecordStore {
  /** Relative path (DESIGN section 5) to file content. */
  private readonly files = new Map<string, string>();
  /** While true, every call rejects, as a lost or hung datastore does. */
  failing = false;

  constructor(readonly label = "memory") {
    super();
  }

  /** Replaces the content at a relative path, by default with garbage bytes (tests of bad records). */
  corruptPath(path: string, content: string | Uint8Array = new Uint8Array([0xff, 0x00, 0x7b, 0xfe])): void {
    this.files.set(path, typeof content === "string" ? content : new TextDecoder().decode(content));
  }

  /** Every stored path, sorted. */
  paths(): string[] {
    return [...this.files.keys()].sort();
  }

  protected async call<T>(op: string, path: string, work: () => Promise<T>): Promise<T> {
    if (this.failing)
      throw new DatastoreError(`datastore ${this.label}: ${op} ${path}: unavailable`, op, path);
    try {
      return await work();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new DatastoreError(`datastore ${this.label}: ${op} ${path}: ${message}`, op, path, false, {
        cause: error,
      });
    }
  }

  protected async list(dir: string): Promise<string[] | null> {
    const prefix = `${dir}/`;
    const names = new Set<string>();
    for (const path of this.files.keys()) {
      if (path.startsWith(prefix)) names.add(path.slice(prefix.length).split("/")[0]!);
    }
    return names.size === 0 && !topDirs.has(dir) ? null : [...names];
  }

  protected async read(path: string): Promise<ReadResult> {
    const text = this.files.get(path);
    return text === undefined ? { kind: "missing" } : { kind: "text", text };
  }

  protected async replace(path: string, text: string): Promise<void> {
    this.files.set(path, text);
  }

  protected async createExclusive(path: string, text: string): Promise<boolean> {
    if (this.files.has(path)) return false;
    this.files.set(path, text);
    return true;
  }
}
