// A burst of QoS 0 publishes on one client (a mapper's report batches, the twin flood bench's flooder):
// mqtt.js added one 'drain' listener per publish while the socket was full, and Node warned past 1,000
// (MaxListenersExceededWarning, seen in bench/twin-flood.ts, issue 15). The client shares one listener.
import { afterEach, describe, expect, it } from 'vitest';
import { collectMessages } from '../src/testing.js';
import { broker, client, useCleanup } from './helpers.js';

useCleanup();

const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);
afterEach(() => {
  process.off('warning', onWarning);
});

describe('QoS 0 publishes faster than the socket drains', () => {
  it('all resolve and arrive, with no MaxListenersExceededWarning', async () => {
    const b = await broker();
    const sub = await client(b.url);
    const pub = await client(b.url);
    const got = await collectMessages(sub, 'burst/+');
    process.on('warning', onWarning);
    const n = 2_000;
    const payload = Buffer.alloc(1024, 'x');
    // one synchronous burst: past the socket's 16 KiB high-water mark every publish waits for a drain
    const sent = Array.from({ length: n }, (_, i) => pub.publish(`burst/${i}`, payload, { qos: 0 }));
    await Promise.all(sent);
    await got.waitFor(n, 10_000);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message)).toEqual([]);
  });
});
