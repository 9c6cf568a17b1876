// A virtual serial cable: socat joins two pseudo-terminals, so an RTU master and a simulated RTU slave can
// talk without hardware (tests, demos). Needs the `socat` binary (Debian package socat).

import { spawn } from 'node:child_process';

export interface PtyPair {
  /** one end, e.g. /dev/pts/3 (give it to the simulator) */
  readonly a: string;
  /** the other end (give it to the mapper) */
  readonly b: string;
  /** kills socat: both ends disappear, as an unplugged adapter does */
  close(): Promise<void>;
}

export async function openPtyPair(timeoutMs = 5000): Promise<PtyPair> {
  const child = spawn('socat', ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    const paths = await new Promise<string[]>((resolve, reject) => {
      const found: string[] = [];
      let text = '';
      const timer = setTimeout(
        () => reject(new Error(`socat gave no PTY pair within ${timeoutMs} ms: ${text.trim()}`)),
        timeoutMs,
      );
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot run socat (apt-get install socat): ${e.message}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`socat exited with ${code}: ${text.trim()}`));
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        text += chunk;
        for (const m of chunk.matchAll(/PTY is (\/dev\/\S+)/g)) found.push(m[1] as string);
        // both PTYs exist once socat enters its transfer loop
        if (found.length >= 2 && /starting data transfer loop/.test(text)) {
          clearTimeout(timer);
          resolve(found);
        }
      });
    });
    child.stderr.resume();
    return { a: paths[0] as string, b: paths[1] as string, close };
  } catch (e) {
    await close();
    throw e;
  }
}
