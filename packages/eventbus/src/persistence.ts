// Durable broker state (sessions, QoS 1 queues, retained messages) in a LevelDB directory.
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Level } from 'level';

// aedes-persistence-level is CommonJS without type declarations.
const require = createRequire(import.meta.url);
const levelPersistence = require('aedes-persistence-level') as (db: unknown) => {
  destroy(): Promise<void>;
};

export interface LevelPersistence {
  persistence: unknown;
  close(): Promise<void>;
}

export async function openLevelPersistence(dir: string): Promise<LevelPersistence> {
  await mkdir(dir, { recursive: true });
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
  try {
    await db.open();
  } catch (err) {
    const e = err as { code?: string; cause?: { message?: string } };
    throw new Error(
      `cannot open broker persistence in ${dir}: ${e.code ?? ''} ${e.cause?.message ?? (err as Error).message}`.trim(),
      { cause: err },
    );
  }
  const persistence = levelPersistence(db);
  return {
    persistence,
    async close() {
      await persistence.destroy();
      if (db.status !== 'closed') await db.close();
    },
  };
}
