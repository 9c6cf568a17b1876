// What the cloud end of the link must remember across controller restarts, in its own small SQLite file
// (by default `cloud-link.db` next to the controller's database): per node, the last report seq applied
// (so a resent batch is applied once), the desired-state generation (so it keeps increasing), and which
// objects it has published retained (so objects deleted while the controller was down are cleared).

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type PublishedKind = 'device' | 'model';

export interface ReportCursor {
  epoch: string;
  applied: number;
  retired: string[];
}

/** epochs a node has left that are still refused (a late batch of one must not switch the node back) */
const MAX_RETIRED = 16;

export class LinkState {
  private readonly db: Database.Database;
  private readonly getNode: Database.Statement<[string], { applied_seq: number; generation: number }>;
  private readonly setApplied: Database.Statement<[string, number]>;
  private readonly setGeneration: Database.Statement<[string, number]>;
  private readonly getCursor: Database.Statement<[string], { applied_seq: number; epoch: string; retired: string }>;
  private readonly setCursor: Database.Statement<[string, number, string, string]>;
  private readonly listPublished: Database.Statement<[string], { kind: PublishedKind; id: string }>;
  private readonly addPublished: Database.Statement<[string, string, string]>;
  private readonly delPublished: Database.Statement<[string, string, string]>;

  constructor(readonly path: string) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path);
    } catch (err) {
      throw new Error(`cloud link: cannot open its state database ${path}: ${(err as Error).message}`);
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS link_node (
        node TEXT PRIMARY KEY,
        applied_seq INTEGER NOT NULL DEFAULT 0,
        generation INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE IF NOT EXISTS link_published (
        node TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL,
        PRIMARY KEY (node, kind, id)
      );
    `);
    // added for report epochs (issue 9 §2): a state file from before gets the empty epoch
    const columns = new Set(
      (this.db.prepare('PRAGMA table_info(link_node)').all() as Array<{ name: string }>).map((c) => c.name),
    );
    if (!columns.has('epoch')) this.db.exec("ALTER TABLE link_node ADD COLUMN epoch TEXT NOT NULL DEFAULT ''");
    if (!columns.has('retired')) this.db.exec("ALTER TABLE link_node ADD COLUMN retired TEXT NOT NULL DEFAULT '[]'");
    this.getNode = this.db.prepare('SELECT applied_seq, generation FROM link_node WHERE node = ?');
    this.getCursor = this.db.prepare('SELECT applied_seq, epoch, retired FROM link_node WHERE node = ?');
    this.setCursor = this.db.prepare(
      `INSERT INTO link_node (node, applied_seq, epoch, retired) VALUES (?, ?, ?, ?)
       ON CONFLICT(node) DO UPDATE SET applied_seq = excluded.applied_seq, epoch = excluded.epoch,
         retired = excluded.retired`,
    );
    this.setApplied = this.db.prepare(
      `INSERT INTO link_node (node, applied_seq) VALUES (?, ?)
       ON CONFLICT(node) DO UPDATE SET applied_seq = max(applied_seq, excluded.applied_seq)`,
    );
    this.setGeneration = this.db.prepare(
      `INSERT INTO link_node (node, generation) VALUES (?, ?)
       ON CONFLICT(node) DO UPDATE SET generation = excluded.generation`,
    );
    this.listPublished = this.db.prepare('SELECT kind, id FROM link_published WHERE node = ?');
    this.addPublished = this.db.prepare('INSERT OR IGNORE INTO link_published (node, kind, id) VALUES (?, ?, ?)');
    this.delPublished = this.db.prepare('DELETE FROM link_published WHERE node = ? AND kind = ? AND id = ?');
  }

  appliedSeq(node: string): number {
    return this.getNode.get(node)?.applied_seq ?? 0;
  }

  markApplied(node: string, seq: number): void {
    this.setApplied.run(node, seq);
  }

  /** The node's report cursor: the epoch its seqs count in, what is applied, and the epochs it has left. */
  cursor(node: string): ReportCursor {
    const row = this.getCursor.get(node);
    if (!row) return { epoch: '', applied: 0, retired: [] };
    let retired: string[] = [];
    try {
      const parsed = JSON.parse(row.retired) as unknown;
      if (Array.isArray(parsed)) retired = parsed.filter((e): e is string => typeof e === 'string');
    } catch {
      // a damaged list only loses the memory of old epochs
    }
    return { epoch: row.epoch, applied: row.applied_seq, retired };
  }

  /** The node's reports now count in `epoch` from `applied`; the epoch it leaves is remembered (the last few). */
  switchEpoch(node: string, epoch: string, applied: number): ReportCursor {
    const cur = this.cursor(node);
    const retired = [...cur.retired.filter((e) => e !== cur.epoch && e !== epoch), cur.epoch].slice(-MAX_RETIRED);
    this.setCursor.run(node, applied, epoch, JSON.stringify(retired));
    return { epoch, applied, retired };
  }

  /**
   * Returns a generation above every one handed out before for this node, and remembers it. It is at
   * least the wall clock in ms, so generations keep increasing even if this state is lost (in memory).
   */
  nextGeneration(node: string): number {
    const next = Math.max((this.getNode.get(node)?.generation ?? 0) + 1, Date.now());
    this.setGeneration.run(node, next);
    return next;
  }

  nodesKnown(): string[] {
    return (this.db.prepare('SELECT DISTINCT node FROM link_published').all() as Array<{ node: string }>).map(
      (r) => r.node,
    );
  }

  published(node: string): Array<{ kind: PublishedKind; id: string }> {
    return this.listPublished.all(node);
  }

  /** Records many publications (present=true) or clearings (present=false) in one transaction. */
  recordPublished(node: string, changes: Array<{ kind: PublishedKind; id: string; present: boolean }>): void {
    const tx = this.db.transaction(() => {
      for (const c of changes) {
        if (c.present) this.addPublished.run(node, c.kind, c.id);
        else this.delPublished.run(node, c.kind, c.id);
      }
    });
    tx();
  }

  close(): void {
    this.db.close();
  }
}
