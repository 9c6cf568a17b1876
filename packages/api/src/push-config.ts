// The one home of a property's pushMethod configuration (issue 17): which keys edgetwin acts on, their
// defaults, and a clear problem for every key it does not act on, so nothing is accepted and ignored.
// `edgetwin validate` (semantic.ts) reports these problems at their field; the mapper parses the same way
// and serves only what parses (docs/push.md lists every key).

import type { PushMethod } from './types.js';

export interface HttpPush {
  url: string;
  timeoutMs: number;
}
export interface MqttPush {
  /** broker URL; undefined = the edge broker */
  address?: string;
  topic?: string;
  qos: 0 | 1;
  retained: boolean;
}
export interface OtelPush {
  endpointURL: string;
}
export interface Influx2Sink {
  url: string;
  org?: string;
  bucket: string;
  measurement: string;
  tags: Record<string, string>;
  fieldKey: string;
}
export interface RedisSink {
  addr: string;
  db: number;
}
export interface MysqlSink {
  addr: string;
  database: string;
  userName: string;
}

/** What the mapper does with a property's pushMethod, keyed by the method's own name. */
export interface PushConfig {
  http?: HttpPush;
  mqtt?: MqttPush;
  otel?: OtelPush;
  influxdb2?: Influx2Sink;
  redis?: RedisSink;
  mysql?: MysqlSink;
}

/** Database sinks by their dbMethod key. */
export const SINK_KINDS = ['influxdb2', 'redis', 'mysql'] as const;
export type SinkKind = (typeof SINK_KINDS)[number];

export interface PushProblem {
  /** below the property's `pushMethod` */
  path: Array<string | number>;
  message: string;
  expected?: string;
  /** error: the key would be ignored, so it is refused; notice: a tuning knob edgetwin has no use for */
  severity: 'error' | 'notice';
}

/** Default HTTP push timeout (ms) when `http.timeout` is absent or not positive. */
export const DEFAULT_HTTP_TIMEOUT_MS = 5000;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** MySQL's (and MariaDB's) longest identifier: table and database names, in characters. */
export const MYSQL_MAX_IDENTIFIER = 64;
/** MariaDB's longest user name (MySQL 8 allows 32). */
export const MYSQL_MAX_USER = 80;
/** Field and tag keys InfluxDB refuses or keeps for itself (1.x drops a `time` field; 2.x owns `_field`...). */
const INFLUX_RESERVED_KEYS = new Set(['time', '_field', '_measurement', '_time', '_value', '_start', '_stop']);

/** The device and property a pushMethod belongs to: sinks build table names and keys from them. */
export interface PushOwner {
  namespace: string;
  name: string;
  property: string;
}

/** The table KubeEdge's mysql layout writes a property into: `<namespace>/<device>/<property>`. */
export function mysqlTableName(o: PushOwner): string {
  return `${o.namespace}/${o.name}/${o.property}`;
}

/**
 * Parses a property's pushMethod into what the mapper acts on. Every key it cannot act on is a problem;
 * a method with an error problem is left out of `config` (the rest of the property still runs). With its
 * owner, the names a sink builds from the device and property (the mysql table, the influx field key) are
 * checked against the database's limits too, naming the device and the property.
 */
export function parsePushMethod(
  pm: PushMethod | undefined,
  owner?: PushOwner,
): { config: PushConfig; problems: PushProblem[] } {
  const config: PushConfig = {};
  const problems: PushProblem[] = [];
  if (!pm) return { config, problems };
  const error = (path: Array<string | number>, message: string, expected?: string) =>
    problems.push({ path, message, severity: 'error', ...(expected ? { expected } : {}) });
  const notice = (path: Array<string | number>, message: string) =>
    problems.push({ path, message, severity: 'notice' });
  const str = (o: Obj, k: string): string | undefined => (typeof o[k] === 'string' && o[k] !== '' ? o[k] : undefined);

  for (const key of Object.keys(pm)) {
    if (!['http', 'mqtt', 'otel', 'dbMethod', 'anomalyDetection'].includes(key))
      error([key], `pushMethod.${key} is not a push method`, 'expected http, mqtt, otel or dbMethod');
  }
  if (pm.anomalyDetection !== undefined)
    error(
      ['anomalyDetection'],
      'anomalyDetection is not supported: edgetwin mappers have no anomaly-detection hook, nothing would run it',
      'expected no anomalyDetection; push the data (mqtt, http, otel, dbMethod) to a detector instead',
    );

  if (pm.http !== undefined) {
    const h = pm.http as Obj;
    if (!isObj(h) || !str(h, 'hostName'))
      error(['http', 'hostName'], 'http push needs a hostName', 'expected e.g. http://127.0.0.1');
    else {
      const timeout = typeof h.timeout === 'number' && h.timeout > 0 ? h.timeout : DEFAULT_HTTP_TIMEOUT_MS;
      config.http = { url: httpUrl(h), timeoutMs: timeout };
    }
  }

  if (pm.mqtt !== undefined) {
    const m = pm.mqtt as Obj;
    const qos = m.qos ?? 0;
    if (qos !== 0 && qos !== 1 && qos !== 2)
      error(['mqtt', 'qos'], `MQTT QoS ${String(qos)} does not exist`, 'expected 0, 1 or 2');
    else {
      if (qos === 2)
        notice(['mqtt', 'qos'], 'QoS 2 is published as QoS 1 (at least once): the push client speaks QoS 0 and 1');
      const address = str(m, 'address');
      if (address && !/^(tcp|ssl|mqtt|mqtts|ws|wss):\/\//.test(address))
        error(
          ['mqtt', 'address'],
          `broker address ${JSON.stringify(address)} has no scheme`,
          'expected tcp://host:port',
        );
      else
        config.mqtt = {
          ...(address ? { address } : {}),
          ...(str(m, 'topic') ? { topic: str(m, 'topic') } : {}),
          qos: qos === 0 ? 0 : 1,
          retained: m.retained === true,
        };
    }
  }

  if (pm.otel !== undefined) {
    const url = isObj(pm.otel) ? str(pm.otel, 'endpointURL') : undefined;
    if (!url || !/^https?:\/\//.test(url))
      error(
        ['otel', 'endpointURL'],
        url ? `OTLP endpoint ${JSON.stringify(url)} is not an http(s) URL` : 'otel push needs an endpointURL',
        'expected the OTLP/HTTP metrics URL, e.g. http://127.0.0.1:4318/v1/metrics',
      );
    else config.otel = { endpointURL: url };
  }

  const db = pm.dbMethod;
  if (db !== undefined) {
    if (!isObj(db)) error(['dbMethod'], 'dbMethod must be an object', 'expected influxdb2, redis or mysql');
    else
      for (const [kind, value] of Object.entries(db)) {
        const at = ['dbMethod', kind];
        if (kind.toLowerCase() === 'tdengine') {
          error(
            at,
            'the TDengine sink is not supported yet (edgetwin cannot test it against a real TDengine server); nothing would be written',
            'expected influxdb2, redis or mysql',
          );
          continue;
        }
        if (!isObj(value)) {
          error(at, `dbMethod.${kind} must be an object`);
          continue;
        }
        if (kind === 'influxdb2') {
          const c = isObj(value.influxdb2ClientConfig) ? value.influxdb2ClientConfig : {};
          const d = isObj(value.influxdb2DataConfig) ? value.influxdb2DataConfig : {};
          const url = str(c, 'url');
          const bucket = str(c, 'bucket');
          const measurement = str(d, 'measurement');
          if (!url || !/^https?:\/\//.test(url))
            error(
              [...at, 'influxdb2ClientConfig', 'url'],
              'influxdb2 needs the server URL',
              'expected http://host:8086',
            );
          if (!bucket)
            error(
              [...at, 'influxdb2ClientConfig', 'bucket'],
              'influxdb2 needs a bucket',
              'expected a bucket (InfluxDB 1.x: database/retention-policy)',
            );
          if (!measurement)
            error([...at, 'influxdb2DataConfig', 'measurement'], 'influxdb2 needs a measurement', 'expected a name');
          const fieldKey = str(d, 'fieldKey') ?? owner?.property;
          let keysOk = true;
          if (fieldKey !== undefined && INFLUX_RESERVED_KEYS.has(fieldKey)) {
            keysOk = false;
            error(
              [...at, 'influxdb2DataConfig', 'fieldKey'],
              `influxdb2 field key ${JSON.stringify(fieldKey)}${owner ? ` (${whose(owner)})` : ''} is reserved by InfluxDB; the points would be refused or dropped`,
              'expected a fieldKey other than time, _field, _measurement, _time, _value, _start, _stop',
            );
          }
          const tags: Record<string, string> = {};
          if (d.tag !== undefined && !isObj(d.tag))
            error([...at, 'influxdb2DataConfig', 'tag'], 'tag must be a map of strings');
          for (const [k, v] of Object.entries(isObj(d.tag) ? d.tag : {})) {
            if (INFLUX_RESERVED_KEYS.has(k)) {
              keysOk = false;
              error(
                [...at, 'influxdb2DataConfig', 'tag', k],
                `influxdb2 tag key ${JSON.stringify(k)}${owner ? ` (${whose(owner)})` : ''} is reserved by InfluxDB; the points would be refused`,
                'expected another tag key',
              );
            } else if (typeof v === 'string') tags[k] = v;
            else error([...at, 'influxdb2DataConfig', 'tag', k], `tag ${k} must be a string`);
          }
          if (url && bucket && measurement && keysOk)
            config.influxdb2 = {
              url,
              bucket,
              measurement,
              tags,
              ...(str(c, 'org') ? { org: str(c, 'org') } : {}),
              // KubeEdge requires fieldKey; the property name is the natural default
              fieldKey: str(d, 'fieldKey') ?? '',
            };
          continue;
        }
        if (kind === 'redis') {
          const c = isObj(value.redisClientConfig) ? value.redisClientConfig : {};
          const addr = str(c, 'addr');
          if (!addr) error([...at, 'redisClientConfig', 'addr'], 'redis needs an addr', 'expected host:port');
          const dbIndex = c.db ?? 0;
          if (typeof dbIndex !== 'number' || !Number.isInteger(dbIndex) || dbIndex < 0 || dbIndex > 15)
            error(
              [...at, 'redisClientConfig', 'db'],
              `redis db ${String(dbIndex)} is not a database index`,
              'expected 0..15',
            );
          for (const knob of ['poolsize', 'poolSize', 'minIdleConns'])
            if (c[knob] !== undefined)
              notice(
                [...at, 'redisClientConfig', knob],
                `${knob} has no effect: edgetwin writes over one pipelined connection per redis address`,
              );
          if (addr && typeof dbIndex === 'number' && Number.isInteger(dbIndex) && dbIndex >= 0 && dbIndex <= 15)
            config.redis = { addr, db: dbIndex };
          continue;
        }
        if (kind === 'mysql') {
          const c = isObj(value.mysqlClientConfig) ? value.mysqlClientConfig : {};
          const addr = str(c, 'addr');
          const database = str(c, 'database');
          const userName = str(c, 'userName');
          if (!addr) error([...at, 'mysqlClientConfig', 'addr'], 'mysql needs an addr', 'expected host:port');
          if (!database) error([...at, 'mysqlClientConfig', 'database'], 'mysql needs a database', 'expected a name');
          if (!userName) error([...at, 'mysqlClientConfig', 'userName'], 'mysql needs a userName', 'expected a name');
          let namesOk = true;
          if (database && [...database].length > MYSQL_MAX_IDENTIFIER) {
            namesOk = false;
            error(
              [...at, 'mysqlClientConfig', 'database'],
              `mysql database name is ${[...database].length} characters; MySQL allows ${MYSQL_MAX_IDENTIFIER}`,
              `expected at most ${MYSQL_MAX_IDENTIFIER} characters`,
            );
          }
          if (userName && [...userName].length > MYSQL_MAX_USER) {
            namesOk = false;
            error(
              [...at, 'mysqlClientConfig', 'userName'],
              `mysql user name is ${[...userName].length} characters; MariaDB allows ${MYSQL_MAX_USER} (MySQL 32)`,
              `expected at most ${MYSQL_MAX_USER} characters`,
            );
          }
          if (owner) {
            const table = mysqlTableName(owner);
            const n = [...table].length;
            if (n > MYSQL_MAX_IDENTIFIER || /[\s]$/.test(table) || table.includes('\0')) {
              namesOk = false;
              error(
                [...at],
                n > MYSQL_MAX_IDENTIFIER
                  ? `mysql table name ${JSON.stringify(table)} (${whose(owner)}) is ${n} characters; MySQL allows ${MYSQL_MAX_IDENTIFIER}`
                  : `mysql table name ${JSON.stringify(table)} (${whose(owner)}) ends in a space or holds a NUL, which MySQL refuses`,
                `expected namespace/device/property of at most ${MYSQL_MAX_IDENTIFIER} characters: shorten the device or property name`,
              );
            }
          }
          if (addr && database && userName && namesOk) config.mysql = { addr, database, userName };
          continue;
        }
        error(at, `dbMethod.${kind} is not a database edgetwin writes to`, 'expected influxdb2, redis or mysql');
      }
  }
  return { config, problems };
}

function whose(o: PushOwner): string {
  return `device ${o.namespace}/${o.name}, property ${o.property}`;
}

/** `POST <hostName>:<port><requestPath>`; hostName may carry the scheme (KubeEdge requires it). */
function httpUrl(h: Obj): string {
  const host = String(h.hostName).replace(/\/+$/, '');
  const withScheme = /^https?:\/\//.test(host) ? host : `http://${host}`;
  const port = typeof h.port === 'number' && h.port > 0 ? `:${h.port}` : '';
  const p = typeof h.requestPath === 'string' ? h.requestPath : '';
  const path = p ? (p.startsWith('/') ? p : `/${p}`) : '/';
  return `${withScheme}${port}${path}`;
}
