// A flooding client in its own process (as a hostile local client would be), for the fairness test and
// bench/twin-flood.ts:
//   node packages/cli/bin/run-ts.js packages/devicetwin/test/support/flood-child.ts <broker url> <device id> <small> <big> <props>
// Publishes <small> value updates of the device, with <big> updates of <props> new property names each
// spread among them (QoS 0), then one QoS 1 message, whose acknowledgement means the broker has read every
// message before it, and exits. The twin's metrics tell how each was answered.

import { type DeviceId, deviceTopic } from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus';

const [url, id, smallArg, bigArg, propsArg] = process.argv.slice(2);
if (!url || !id) {
  console.error('usage: flood-child.ts <broker url> <device id> <small> <big> <props>');
  process.exit(2);
}
const small = Number(smallArg ?? 20_000);
const big = Number(bigArg ?? 100);
const props = Number(propsArg ?? 5000);

function manyNewProperties(round: number): string {
  const twin: Record<string, unknown> = {};
  for (let i = 0; i < props; i++) twin[`r${round}p${i}`] = { actual: { value: 'x' } };
  return JSON.stringify({ event_id: `big${round}`, twin });
}

const bus = await connectBus({ url, clientId: `flooder-${process.pid}` });
const topic = deviceTopic(id as DeviceId, 'twin/update');
const every = Math.max(1, Math.floor(small / Math.max(big, 1)));
const sent: Array<Promise<void>> = [];
let bigSent = 0;
for (let i = 0; i < small || bigSent < big; i++) {
  if (i < small)
    sent.push(
      bus.publish(
        topic,
        JSON.stringify({ event_id: `s${i}`, twin: { temp: { actual: { value: String(i % 1000) } } } }),
        {
          qos: 0,
        },
      ),
    );
  if (bigSent < big && i % every === 0) sent.push(bus.publish(topic, manyNewProperties(bigSent++), { qos: 0 }));
  if (i % 200 === 199) await new Promise((r) => setImmediate(r));
}
await Promise.all(sent);
await bus.publish('flood/end', 'end', { qos: 1 });
await bus.close();
