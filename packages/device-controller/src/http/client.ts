// Client of the controller's HTTP API, for the CLI and for tests. Failures come back as ControllerError
// carrying the controller's finding lines, never as bare HTTP codes.

import type { IncomingMessage } from 'node:http';
import type { Device, DeviceModel } from '@edgetwin/api';
import type { ControllerEvent } from '../live/event-log.js';
import type { ApplyResult } from '../sources/embedded/store.js';
import type { ManifestFile } from './check-manifests.js';
import type { NodeRecord } from '../cloud-link/node-registry.js';
import type { NodeAdded } from './node-routes.js';
import type { DesiredResult, NodeInfo } from './server.js';

export class ControllerError extends Error {
  constructor(
    readonly status: number,
    readonly findings: string[],
  ) {
    super(findings.join('\n'));
    this.name = 'ControllerError';
  }
}

export interface DeviceDetail {
  device: Device;
  model: DeviceModel | null;
}

export interface DeviceHistory {
  device: string;
  since: string;
  retentionSeconds: number;
  series: Array<{ property: string; points: Array<[number, number]> }>;
}

export interface ControllerClientOptions {
  /** the API's bearer token (docs/security.md) */
  token?: string;
  /** where the token came from, or why there is none: said when the controller answers 401 */
  tokenFrom?: string;
  noTokenBecause?: string;
}

export class ControllerClient {
  private readonly base: string;

  constructor(
    baseUrl: string,
    private readonly opts: ControllerClientOptions = {},
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  apply(files: ManifestFile[]): Promise<{ results: ApplyResult[]; notices?: string[] }> {
    return this.call('POST', '/apply', { sources: files });
  }

  delete(files: ManifestFile[]): Promise<{ results: ApplyResult[] }> {
    return this.call('POST', '/delete', { sources: files });
  }

  async devices(): Promise<Device[]> {
    return (await this.call<{ items: Device[] }>('GET', '/devices')).items;
  }

  async models(): Promise<DeviceModel[]> {
    return (await this.call<{ items: DeviceModel[] }>('GET', '/devicemodels')).items;
  }

  async nodes(): Promise<NodeInfo[]> {
    return (await this.call<{ items: NodeInfo[] }>('GET', '/nodes')).items;
  }

  device(namespace: string, name: string): Promise<DeviceDetail> {
    return this.call('GET', `/devices/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  }

  /** Sets one desired value. */
  async setDesired(
    namespace: string,
    name: string,
    property: string,
    value: string,
  ): Promise<{ result: DesiredResult; device: Device }> {
    const { results, device } = await this.setDesiredValues(namespace, name, { [property]: value });
    return { result: results[0]!, device };
  }

  /** Sets several desired values in one write: all of them, or none and the findings of every bad one. */
  setDesiredValues(
    namespace: string,
    name: string,
    values: Record<string, string>,
  ): Promise<{ results: DesiredResult[]; device: Device }> {
    return this.call('POST', `/devices/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/desired`, {
      values,
    });
  }

  /** Calls a device method: each value becomes its property's desired value (spec.methods, issue 17). */
  callMethod(
    namespace: string,
    name: string,
    method: string,
    values: Record<string, string>,
  ): Promise<{ method: string; results: DesiredResult[]; device: Device }> {
    return this.call(
      'POST',
      `/devices/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/methods/${encodeURIComponent(method)}`,
      { values },
    );
  }

  /** Recent events of devices and nodes (describe shows them), oldest first. */
  async events(filter: { kind?: string; namespace?: string; name?: string } = {}): Promise<ControllerEvent[]> {
    const q = new URLSearchParams(Object.entries(filter).filter(([, v]) => v !== undefined) as [string, string][]);
    return (await this.call<{ items: ControllerEvent[] }>('GET', `/events?${q}`)).items;
  }

  /** The recorded history of reported numbers of a device (one property, or all with a history). */
  history(namespace: string, name: string, opts: { property?: string; since?: string } = {}): Promise<DeviceHistory> {
    const q = new URLSearchParams();
    if (opts.property !== undefined) q.set('property', opts.property);
    if (opts.since !== undefined) q.set('since', opts.since);
    return this.call('GET', `/devices/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/history?${q}`);
  }

  /** A one-time login link ticket for the web console. */
  consoleTicket(): Promise<{ ticket: string; expiresAt: string }> {
    return this.call('POST', '/console/tickets', {});
  }

  /**
   * Follows the live stream (Server-Sent Events): calls `onMessage` with each event's name and parsed data,
   * from the full state at connect to every change after. Resolves when `signal` aborts or the server ends it.
   */
  async stream(onMessage: (event: string, data: unknown) => void, signal?: AbortSignal): Promise<void> {
    let res: Response;
    try {
      res = await fetch(`${this.base}/stream`, {
        headers: this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {},
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      if (signal?.aborted) return;
      throw new Error(`cannot reach the controller at ${this.base}: ${(e as Error).message}`);
    }
    if (!res.ok || !res.body) {
      const text = await res.text();
      throw new ControllerError(res.status, [`GET /stream: ${text.slice(0, 200)}`]);
    }
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let end = buf.indexOf('\n\n');
        while (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data) onMessage(event, JSON.parse(data));
          end = buf.indexOf('\n\n');
        }
      }
    } catch (e) {
      if (!signal?.aborted) throw e;
    }
  }

  /** registers a node (or, with rejoin, re-issues its token) and returns its one-time join token */
  addNode(name: string, opts: { rejoin?: boolean; ttlSeconds?: number } = {}): Promise<NodeAdded> {
    return this.call('POST', `/identities/${encodeURIComponent(name)}`, opts);
  }

  removeNode(name: string): Promise<{ node: string; removed: boolean }> {
    return this.call('DELETE', `/identities/${encodeURIComponent(name)}`);
  }

  async identities(): Promise<NodeRecord[]> {
    return (await this.call<{ items: NodeRecord[] }>('GET', '/identities')).items;
  }

  private async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    let res: { status: number; text: string };
    try {
      const headers: Record<string, string> = {};
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
      res = await request(this.base + path, method, headers, body !== undefined ? JSON.stringify(body) : undefined);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new Error(
        `cannot reach the controller at ${this.base}: ${err.code ?? err.message} ` +
          '(is `edgetwin cloud` or `edgetwin up` running? set --server or EDGETWIN_SERVER)',
      );
    }
    const text = res.text;
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new ControllerError(res.status, [
        `controller at ${this.base} answered ${method} ${path} with non-JSON: ${text.slice(0, 200)}`,
      ]);
    }
    if (res.status === 401) {
      const why = this.opts.token
        ? `the token from ${this.opts.tokenFrom ?? 'the caller'} was refused`
        : `no token was sent: ${this.opts.noTokenBecause ?? 'none given'}`;
      throw new ControllerError(401, [
        `edgetwin: the controller at ${this.base} refused the request (401 unauthorized): ${why}. ` +
          'On the controller machine the CLI finds the token in <data-dir>/client.json (pass --data-dir); ' +
          'elsewhere set EDGETWIN_TOKEN_FILE or EDGETWIN_CONFIG (docs/security.md)',
      ]);
    }
    if (res.status < 200 || res.status > 299) {
      const findings = (parsed as { findings?: unknown }).findings;
      throw new ControllerError(
        res.status,
        Array.isArray(findings) && findings.length > 0
          ? findings.map(String)
          : [`${method} ${path}: ${text.slice(0, 200)}`],
      );
    }
    return parsed as T;
  }
}

/**
 * One request on its own connection (node:http, not fetch): a CLI call exits as soon as it has its answer.
 * With fetch, undici's compile and its keep-alive connection's wind-down cost a `get` or `twin set` ~80 ms of
 * its ~180 (issue 15, target 4; bench/shipping.ts).
 */
async function request(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  const { request: send } = u.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise((resolve, reject) => {
    const req = send(u, { method, headers, agent: false }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
