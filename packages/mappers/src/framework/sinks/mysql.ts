// The mysql sink (issue 17), KubeEdge's layout: one table per property named `<namespace>/<device>/<property>`
// with columns (id, ts, field). Fixed defects: KubeEdge formats the table name into its SQL unescaped (a
// backtick in a property name injects SQL): identifiers are quoted here and values always bound; its `ts`
// is a local-time DATETIME at 1 s: edgetwin writes UTC at 1 ms, DATETIME(3), in tables it creates.

import { MYSQL_MAX_IDENTIFIER, type MysqlSink, mysqlTableName } from '@edgetwin/api';
import mysql from 'mysql2/promise';
import { type SecretSource, SinkAuthError, type SinkWriter } from './batching-sink.js';
import { splitAddr } from './redis.js';

/** MySQL quoting of an identifier: backticks around it, a backtick inside doubled. */
export function quoteId(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

export function mysqlWriter(cfg: MysqlSink, secret: SecretSource, connectTimeoutMs: number): SinkWriter {
  const [host, port] = splitAddr(cfg.addr, 3306);
  let conn: mysql.Connection | undefined;
  // tables known to exist; kept across reconnects, so a slow first pass makes progress batch by batch
  const created = new Set<string>();
  return {
    async connect() {
      const password = secret();
      try {
        const c = await mysql.createConnection({
          host,
          port,
          user: cfg.userName,
          ...(password !== undefined ? { password } : {}),
          database: cfg.database,
          timezone: 'Z',
          connectTimeout: connectTimeoutMs,
        });
        c.on('error', () => undefined); // the next query fails; the sink logs once per outage
        conn = c;
      } catch (e) {
        const err = e as Error & { code?: string };
        throw err.code === 'ER_ACCESS_DENIED_ERROR' ? new SinkAuthError(err.message) : err;
      }
    },
    async write(points) {
      const c = conn;
      if (!c) throw new Error('mysql connection lost');
      const byTable = new Map<string, Array<[Date, string]>>();
      for (const p of points) {
        const table = mysqlTableName(p);
        // parsePushMethod leaves such a property's mysql out (and validate refuses it): never reached
        if ([...table].length > MYSQL_MAX_IDENTIFIER) continue;
        const rows = byTable.get(table) ?? [];
        rows.push([new Date(p.timestamp), p.value]);
        byTable.set(table, rows);
      }
      // tables first (CREATE commits implicitly), then every insert of the batch in one transaction: one
      // commit (one fsync) per batch instead of one per table
      for (const table of byTable.keys()) {
        if (created.has(table)) continue;
        await c.query(
          `CREATE TABLE IF NOT EXISTS ${quoteId(table)} (id BIGINT AUTO_INCREMENT PRIMARY KEY, ts DATETIME(3) NOT NULL, field TEXT)`,
        );
        created.add(table);
      }
      await c.beginTransaction();
      try {
        for (const [table, rows] of byTable) {
          try {
            await c.query(`INSERT INTO ${quoteId(table)} (ts, field) VALUES ?`, [rows]);
          } catch (e) {
            // dropped behind our back: create it again on the next attempt
            if ((e as { code?: string }).code === 'ER_NO_SUCH_TABLE') created.delete(table);
            throw e;
          }
        }
        await c.commit();
      } catch (e) {
        await c.rollback().catch(() => undefined);
        throw e;
      }
    },
    async close() {
      const c = conn;
      conn = undefined;
      c?.destroy();
    },
  };
}
