// SQLite schema of the edge twin. PRAGMA user_version carries the schema version so a future change can
// migrate a node's existing database instead of losing it.

export const SCHEMA_VERSION = 1;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS models (
  id TEXT PRIMARY KEY,
  resource_version TEXT NOT NULL DEFAULT '',
  json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  model_id TEXT NOT NULL,
  resource_version TEXT NOT NULL DEFAULT '',
  json TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'unknown',
  last_online TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS twins (
  device_id TEXT NOT NULL,
  name TEXT NOT NULL,
  attr_type TEXT NOT NULL,
  optional INTEGER NOT NULL,
  expected TEXT,
  expected_ts INTEGER NOT NULL DEFAULT 0,
  expected_cloud_ver INTEGER NOT NULL DEFAULT 0,
  expected_edge_ver INTEGER NOT NULL DEFAULT 0,
  expected_source TEXT,
  cloud_desired TEXT,
  actual TEXT,
  actual_ts INTEGER NOT NULL DEFAULT 0,
  actual_cloud_ver INTEGER NOT NULL DEFAULT 0,
  actual_edge_ver INTEGER NOT NULL DEFAULT 0,
  write_status TEXT,
  PRIMARY KEY (device_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  timestamp INTEGER NOT NULL,
  report TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;
