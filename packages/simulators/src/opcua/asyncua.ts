// The independent OPC-UA peer (issue 11): the Python asyncua server of python/opcua_server.py (asyncua
// pinned in scripts/test-peers/python/asyncua.txt, in the project .venv), started on 127.0.0.1 for the
// driver's interop tests, `probe opcua`'s tests and the OPC-UA bench. One launcher for all of them.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot, venvPython } from '../peers.js';

export const ASYNCUA_SERVER_SCRIPT = join(repoRoot, 'packages/simulators/python/opcua_server.py');
/** the namespace of the asyncua server's variables */
export const ASYNCUA_NAMESPACE = 'urn:edgetwin:asyncua';

export interface AsyncuaServer {
  url: string;
  port: number;
  /** the server certificate (DER), to pin or put in a trust folder */
  certificateFile: string;
  stop(): Promise<void>;
}

/**
 * Starts opcua_server.py on `port` with its PKI (server certificate and key, created once) under `pki`;
 * `args` are the script's other options (--secure POLICY..., --users FILE, --variables N, ...).
 * Resolves when it prints READY; rejects with its stderr if it exits first or takes over `timeoutMs`.
 */
export function startAsyncuaServer(opts: {
  port: number;
  pki: string;
  args?: string[];
  timeoutMs?: number;
}): Promise<AsyncuaServer> {
  const child: ChildProcess = spawn(
    venvPython(),
    [ASYNCUA_SERVER_SCRIPT, '--port', String(opts.port), '--pki', opts.pki, ...(opts.args ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr?.on('data', (d) => {
    err = (err + d).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`asyncua server did not start in ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`asyncua server exited (${code}): ${err}`));
    });
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /READY (\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        url: m[1] as string,
        port: opts.port,
        certificateFile: join(opts.pki, 'server-cert.der'),
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}
