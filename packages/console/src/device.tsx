// One device (issue 16 §1): every property's desired vs reported value, the write state with its reason, a
// control to set a desired value (checked against the model as `twin set` is, then by the controller), live
// plots of the numeric properties, and the device's recent events.
import type { Device, DeviceModel, ModelProperty } from '@edgetwin/api/types';
import { lastSeen } from '@edgetwin/api/last-seen';
import { checkValue } from '@edgetwin/api/values';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, age, api, type ControllerEvent } from './api.js';
import { Plot } from './plot.js';

interface WriteStatus {
  state: string;
  reason?: string;
  desired: string;
}

const NUMERIC = new Set(['INT', 'FLOAT', 'DOUBLE']);

function SetValue({ device, prop }: { device: Device; prop: ModelProperty }) {
  const [value, setValue] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const ns = device.metadata.namespace ?? 'default';
  const submit = async (e: Event) => {
    e.preventDefault();
    // the model's checks first, as the CLI's `twin set` (the controller checks again)
    const check = checkValue(prop, value);
    if (!check.ok) return setMessage({ ok: false, text: `${check.reason} (model type ${prop.type ?? 'STRING'})` });
    try {
      await api.setDesired(ns, device.metadata.name, { [prop.name]: value });
      setMessage({ ok: true, text: `desired ${prop.name} = ${value} sent` });
    } catch (err) {
      setMessage({ ok: false, text: err instanceof ApiError ? err.findings.join(' ') : String(err) });
    }
  };
  const id = `set-${prop.name}`;
  return (
    <form class="set" onSubmit={submit}>
      <label for={id} class="visually-hidden">
        New value for {prop.name}
      </label>
      <input
        id={id}
        value={value}
        placeholder={prop.type === 'BOOLEAN' ? 'true' : NUMERIC.has(prop.type ?? '') ? (prop.minimum ?? '0') : 'ON'}
        onInput={(e) => setValue((e.target as HTMLInputElement).value)}
      />
      <button type="submit">Set {prop.name}</button>
      {message && (
        <span role={message.ok ? 'status' : 'alert'} class={message.ok ? 'ok' : 'error'}>
          {message.text}
        </span>
      )}
    </form>
  );
}

export function DevicePage(props: {
  device: Device | undefined;
  id: string;
  model: DeviceModel | undefined;
  points: Map<string, Array<[number, number]>>;
  events: ControllerEvent[];
  now: number;
}) {
  const { device, model, now } = props;
  const [loaded, setLoaded] = useState<Map<string, Array<[number, number]>>>(new Map());
  const [events, setEvents] = useState<ControllerEvent[]>([]);
  const [ns, name] = props.id.split('/') as [string, string];
  useEffect(() => {
    void api.history(ns, name).then((h) => setLoaded(new Map(h.series.map((s) => [s.property, s.points]))));
    void api.events('Device', ns, name).then((e) => setEvents(e.items));
  }, [props.id]);
  if (!device)
    return (
      <main>
        <h1>{props.id}</h1>
        <p>No such device (yet).</p>
      </main>
    );
  const allEvents = [
    ...events,
    ...props.events.filter((e) => !events.some((x) => x.firstTimestamp === e.firstTimestamp)),
  ];
  const mprops = new Map((model?.spec.properties ?? []).map((p) => [p.name, p]));
  const twins = new Map((device.status?.twins ?? []).map((t) => [t.propertyName, t]));
  const writes = ((device.status?.extensions as { writes?: Record<string, WriteStatus> } | undefined)?.writes ??
    {}) as Record<string, WriteStatus>;
  const series = (p: string) => {
    const old = loaded.get(p) ?? [];
    const last = old.length ? old[old.length - 1]![0] : -Infinity;
    return [...old, ...(props.points.get(p) ?? []).filter(([t]) => t > last)];
  };
  const numeric = (device.spec.properties ?? []).filter(
    (p) => NUMERIC.has(mprops.get(p.name)?.type ?? '') || series(p.name).length > 0,
  );
  return (
    <main>
      <h1>{props.id}</h1>
      <dl class="facts">
        <dt>Node</dt>
        <dd>{device.spec.nodeName ?? '–'}</dd>
        <dt>Model</dt>
        <dd>{device.spec.deviceModelRef?.name ?? '–'}</dd>
        <dt>Protocol</dt>
        <dd>{device.spec.protocol?.protocolName ?? '–'}</dd>
        <dt>State</dt>
        <dd class={`state state-${device.status?.state ?? 'unknown'}`}>{device.status?.state ?? 'unknown'}</dd>
        <dt>Last report</dt>
        <dd>{age(lastSeen(device), now)}</dd>
      </dl>
      <h2>Properties</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Property</th>
            <th scope="col">Type</th>
            <th scope="col">Desired</th>
            <th scope="col">Reported</th>
            <th scope="col">Write</th>
            <th scope="col">Set desired</th>
          </tr>
        </thead>
        <tbody>
          {(device.spec.properties ?? []).map((p) => {
            const mp = mprops.get(p.name);
            const w = writes[p.name];
            const reported = twins.get(p.name)?.reported?.value;
            return (
              <tr key={p.name}>
                <th scope="row">{p.name}</th>
                <td>
                  {mp?.type ?? '?'}
                  {mp?.unit ? ` (${mp.unit})` : ''}
                </td>
                <td data-testid={`desired-${p.name}`}>{p.desired?.value ?? '–'}</td>
                <td data-testid={`reported-${p.name}`}>{reported ?? '–'}</td>
                <td data-testid={`write-${p.name}`} class={w?.state === 'failed' ? 'error' : ''}>
                  {w ? `${w.state} ${w.desired}${w.reason ? `: ${w.reason}` : ''}` : '–'}
                </td>
                <td>{mp && mp.accessMode !== 'ReadOnly' ? <SetValue device={device} prop={mp} /> : 'read-only'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {numeric.length > 0 && (
        <section aria-labelledby="plots">
          <h2 id="plots">Last hour</h2>
          <div class="plots">
            {numeric.map((p) => (
              <Plot key={p.name} title={p.name} unit={mprops.get(p.name)?.unit} points={series(p.name)} />
            ))}
          </div>
        </section>
      )}
      <section aria-labelledby="events">
        <h2 id="events">Events</h2>
        {allEvents.length === 0 ? (
          <p>None recorded since the controller started.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Reason</th>
                <th scope="col">Age</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {allEvents.map((e) => (
                <tr key={e.firstTimestamp + e.reason}>
                  <td>{e.type}</td>
                  <th scope="row">{e.reason}</th>
                  <td>
                    {age(e.lastTimestamp, now)}
                    {e.count > 1 ? ` (x${e.count})` : ''}
                  </td>
                  <td>{e.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </main>
  );
}
