// Issue 10 §3: the controller's HTTP API needs its bearer token (anonymous and wrong-token requests get a
// 401 that says what to do, while the owner's same request succeeds), answers only to its own names in
// the Host header (DNS rebinding), and the CLI on the same machine finds the token with no flag.
import { request } from 'node:http';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConnection, writeClientConfig } from '../src/cli/client-config.js';
import { type RunningController, startController } from '../src/controller.js';
import { ControllerClient } from '../src/http/client.js';
import { refusal, tempDir } from './support.js';

/** A raw request, so the Host header can be anything an attacker's page would send. */
function raw(
  url: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: { findings?: string[] } & Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers }, (res) => {
      let text = '';
      res.on('data', (b) => (text += b));
      res.on('end', () => {
        const json = (res.headers['content-type'] ?? '').includes('json');
        resolve({ status: res.statusCode ?? 0, body: json ? JSON.parse(text) : { text } });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('controller HTTP API authentication', () => {
  let ctl: RunningController;
  let dir: string;
  let cleanup: () => void;

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir());
    ctl = await startController({
      source: 'embedded',
      dbPath: join(dir, 'c.db'),
      httpPort: 0,
      apiNames: ['controller.example.internal'],
      apiTokenHint: 'in /srv/edgetwin/api-token',
    });
  });
  afterAll(async () => {
    await ctl.stop();
    cleanup();
  });

  it('refuses an anonymous request with 401 and a message saying where the token is, and serves its owner', async () => {
    const anonymous = await refusal(new ControllerClient(ctl.url).devices());
    expect(anonymous.status).toBe(401);
    expect(anonymous.findings[0]).toMatch(/refused the request \(401 unauthorized\): no token was sent/);
    const plain = await raw(ctl.url, '/devices', {});
    expect(plain.status).toBe(401);
    expect(plain.body.findings?.[0]).toMatch(
      /unauthorized: GET \/devices needs "Authorization: Bearer <token>" \(the token is in \/srv\/edgetwin\/api-token/,
    );
    expect(await new ControllerClient(ctl.url, { token: ctl.apiToken }).devices()).toEqual([]);
  });

  it('refuses a wrong token, also on writes, and on /metrics', async () => {
    const wrong = new ControllerClient(ctl.url, { token: 'not-the-token', tokenFrom: 'EDGETWIN_TOKEN' });
    const e = await refusal(wrong.setDesired('default', 'x', 'p', '1'));
    expect(e.status).toBe(401);
    expect(e.findings[0]).toMatch(/the token from EDGETWIN_TOKEN was refused/);
    const apply = await refusal(wrong.apply([{ file: 'a.yaml', text: 'kind: Device' }]));
    expect(apply.status).toBe(401);
    expect((await raw(ctl.url, '/metrics', { authorization: 'Bearer nope' })).status).toBe(401);
    expect((await raw(ctl.url, '/metrics', { authorization: `Bearer ${ctl.apiToken}` })).status).toBe(200);
  });

  it('leaves /healthz open for probes', async () => {
    expect(await raw(ctl.url, '/healthz', {})).toEqual({ status: 200, body: { ok: true, source: 'embedded' } });
  });

  it('refuses a Host header that is not one of its names (DNS rebinding), even with the token', async () => {
    const port = new URL(ctl.url).port;
    const auth = { authorization: `Bearer ${ctl.apiToken}` };
    const rebound = await raw(ctl.url, '/devices', { ...auth, host: `attacker.example:${port}` });
    expect(rebound.status).toBe(421);
    expect(rebound.body.findings?.[0]).toMatch(/Host "attacker.example:\d+" is not a name this controller answers to/);
    expect((await raw(ctl.url, '/healthz', { host: 'attacker.example' })).status).toBe(421);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'controller.example.internal'])
      expect((await raw(ctl.url, '/devices', { ...auth, host })).status, host).toBe(200);
  });

  it('the CLI on the same machine finds URL and token in <data-dir>/client.json (0600) and sends the token nowhere else', () => {
    const file = writeClientConfig(dir, { server: ctl.url.replace('127.0.0.1', '0.0.0.0'), token: ctl.apiToken });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const found = resolveConnection({ dataDir: dir }, {});
    expect(found).toMatchObject({ server: ctl.url, token: ctl.apiToken, tokenFrom: file });
    // elsewhere: the local token is not handed to another server
    const other = resolveConnection({ dataDir: dir, server: 'http://cloud.example:8080' }, {});
    expect(other.token).toBeUndefined();
    expect(other.noTokenBecause).toMatch(/client.json is for http:\/\/127.0.0.1:\d+, not http:\/\/cloud.example:8080/);
    // the environment wins
    expect(resolveConnection({ dataDir: dir }, { EDGETWIN_TOKEN: 't' }).token).toBe('t');
  });

  it('says in /healthz when an insecure mode is on', async () => {
    const t = tempDir();
    const loud = await startController({
      source: 'embedded',
      dbPath: join(t.dir, 'c.db'),
      httpPort: 0,
      insecure: ['any client may connect to the cloud link as any node (--insecure-allow-any-node)'],
    });
    try {
      expect((await raw(loud.url, '/healthz', {})).body).toEqual({
        ok: true,
        source: 'embedded',
        insecure: ['any client may connect to the cloud link as any node (--insecure-allow-any-node)'],
      });
    } finally {
      await loud.stop();
      t.cleanup();
    }
  });
});
