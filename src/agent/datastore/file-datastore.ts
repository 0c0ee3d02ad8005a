// The production Datastore: DESIGN section 5's layout as files on a shared datastore (NFS, a cluster
// filesystem), with atomic replace, exclusive create, uncached reads and an I/O timeout, because the
// safety rules of DESIGN section 3 depend on all four.
import { randomUUID } from "node:crypto";
import { type FileHandle, link, mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { DatastoreError, isSafeName, layout, type ReadResult, RecordStore } from "./datastore.ts";

export interface FileDatastoreOptions {
  /** The datastore's mount point. It must exist: a missing root is an error, never created. */
  root: string;
  clusterId: string;
  /**
   * A call not settled within this many milliseconds rejects (Infinity: never). A rejected write may
   * still land later, so the engine measures a renewal from its issue time (DESIGN 3, rule 2).
   */
  ioTimeoutMs: number;
  /** A larger file is reported corrupt rather than read (default 4 MiB). */
  maxRecordBytes?: number;
}

/** Errors that say something is wrong with one record, not with the storage: reported as corrupt. */
const recordErrorCodes = new Set(["EACCES", "EPERM", "EISDIR", "ELOOP", "ENAMETOOLONG", "EFBIG"]);
/** link() is not supported there: fall back to open(path, "wx"). */
const noHardLinkCodes = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK"]);
/** Directory fsync is not supported there (some platforms and filesystems). */
const noDirSyncCodes = new Set(["EINVAL", "EISDIR", "EPERM", "EACCES", "ENOTSUP", "EOPNOTSUPP", "EBADF"]);

/**
 * `<root>/.vigil/<clusterId>/`: hosts/<host>.hb, vms/<vm>/lease.<epoch>, poweredoff/<vm>.<epoch>,
 * master.lease. The directories are created on first use.
 *
 * Writes go to `.<name>.<pid>.<random>.tmp` in the same directory, are fsynced, then renamed (replace)
 * or hard-linked (exclusive create; an NFS retransmission is recognised by the link count), then the
 * directory is fsynced. Every read opens, reads and closes the file: nothing is cached here. Reads
 * are only as fresh as the mount: NFS needs attribute caching off for the datastore (DESIGN 3, rule 4).
 */
export class FileDatastore extends RecordStore {
  /** `<root>/.vigil/<clusterId>`. */
  readonly dir: string;
  readonly root: string;
  readonly ioTimeoutMs: number;
  private readonly maxRecordBytes: number;
  private ready: Promise<void> | null = null;

  constructor(options: FileDatastoreOptions) {
    super();
    if (!isSafeName(options.clusterId))
      throw new DatastoreError(`unsafe cluster id ${JSON.stringify(options.clusterId)}`, "open", "");
    if (!(options.ioTimeoutMs > 0)) throw new DatastoreError("ioTimeoutMs must be above 0", "open", "");
    this.root = options.root;
    this.dir = join(options.root, ".vigil", options.clusterId);
    this.ioTimeoutMs = options.ioTimeoutMs;
    this.maxRecordBytes = options.maxRecordBytes ?? 4 * 1024 * 1024;
  }

  protected call<T>(op: string, path: string, work: () => Promise<T>): Promise<T> {
    const job = this.ensureLayout()
      .then(work)
      .catch((error: unknown) => {
        // The layout was removed under us: create it again on the next call.
        if (errorCode(error) === "ENOENT") this.ready = null;
        throw new DatastoreError(
          `datastore ${this.dir}: ${op} ${path}: ${describe(error)}`,
          op,
          path,
          false,
          {
            cause: error,
          },
        );
      });
    if (this.ioTimeoutMs === Number.POSITIVE_INFINITY) return job;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const message = `datastore ${this.dir}: ${op} ${path}: no answer within ioTimeoutMs ${this.ioTimeoutMs} ms (it may still complete)`;
        reject(new DatastoreError(message, op, path, true));
      }, this.ioTimeoutMs);
      job.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  protected async list(dir: string): Promise<string[] | null> {
    try {
      return await readdir(this.abs(dir));
    } catch (error) {
      if (errorCode(error) === "ENOENT") return null;
      throw error;
    }
  }

  protected async read(path: string): Promise<ReadResult> {
    let handle: FileHandle;
    try {
      handle = await open(this.abs(path), "r");
    } catch (error) {
      return unreadableOrThrow(error);
    }
    try {
      const info = await handle.stat();
      if (!info.isFile() || info.size > this.maxRecordBytes) return { kind: "unreadable" };
      return { kind: "text", text: await handle.readFile({ encoding: "utf8" }) };
    } catch (error) {
      return unreadableOrThrow(error);
    } finally {
      await handle.close();
    }
  }

  protected async replace(path: string, text: string): Promise<void> {
    const target = this.abs(path);
    const temp = tempFor(target);
    try {
      await writeSynced(temp, text);
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
    await syncDir(dirname(target));
  }

  protected async createExclusive(path: string, text: string): Promise<boolean> {
    const target = this.abs(path);
    await mkdir(dirname(target), { recursive: true });
    const temp = tempFor(target);
    let created: boolean;
    try {
      await writeSynced(temp, text);
      created = await linkExclusive(temp, target, text);
    } finally {
      await rm(temp, { force: true }).catch(() => undefined);
    }
    if (created) await syncDir(dirname(target));
    return created;
  }

  private abs(path: string): string {
    return join(this.dir, path);
  }

  private ensureLayout(): Promise<void> {
    if (this.ready !== null) return this.ready;
    const ready = (async () => {
      const info = await stat(this.root).catch((error: unknown) => {
        throw new Error(`the datastore root ${this.root} is not there (not mounted?): ${describe(error)}`);
      });
      if (!info.isDirectory()) throw new Error(`the datastore root ${this.root} is not a directory`);
      for (const dir of [layout.hostsDir, layout.vmsDir, layout.poweredOffDir])
        await mkdir(this.abs(dir), { recursive: true });
    })();
    this.ready = ready;
    ready.catch(() => {
      if (this.ready === ready) this.ready = null;
    });
    return ready;
  }
}

function tempFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
}

async function writeSynced(path: string, text: string): Promise<void> {
  const handle = await open(path, "wx", 0o644);
  try {
    await handle.writeFile(text, { encoding: "utf8" });
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** link(2) is an atomic exclusive create, including on NFS, and the record is complete when it appears. */
async function linkExclusive(temp: string, target: string, text: string): Promise<boolean> {
  try {
    await link(temp, target);
    return true;
  } catch (error) {
    const code = errorCode(error);
    // On NFS a lost reply makes the retransmitted link fail although the first one succeeded.
    if (code === "EEXIST") return (await stat(temp)).nlink === 2;
    if (!noHardLinkCodes.has(code)) throw error;
  }
  // No hard links: the file exists (empty) before its content is synced; a reader meanwhile sees
  // a corrupt record, which is an alarm, never a reason to act.
  let handle: FileHandle;
  try {
    handle = await open(target, "wx", 0o644);
  } catch (error) {
    if (errorCode(error) === "EEXIST") return false;
    throw error;
  }
  try {
    await handle.writeFile(text, { encoding: "utf8" });
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

/** Makes a rename or link durable. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } catch (error) {
    if (!noDirSyncCodes.has(errorCode(error))) throw error;
  } finally {
    await handle.close();
  }
}

function unreadableOrThrow(error: unknown): ReadResult {
  const code = errorCode(error);
  if (code === "ENOENT") return { kind: "missing" };
  if (recordErrorCodes.has(code)) return { kind: "unreadable" };
  throw error;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
