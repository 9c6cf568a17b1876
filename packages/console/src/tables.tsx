// The list pages (issue 16 §1): devices (filter and search), nodes, models. Plain tables with header cells,
// device names as links.
import type { Device, DeviceModel } from '@edgetwin/api/types';
import { lastSeen } from '@edgetwin/api/last-seen';
import { useState } from 'preact/hooks';
import { age, idOf, type NodeInfo } from './api.js';

interface Writes {
  writes?: Record<string, { state: string; reason?: string; desired: string }>;
}

/** The newest failure a device carries: a failed write, else nothing. */
export function lastError(d: Device): string {
  const writes = (d.status?.extensions as Writes | undefined)?.writes ?? {};
  const failed = Object.entries(writes).filter(([, w]) => w.state === 'failed');
  return failed.map(([p, w]) => `${p}=${w.desired}: ${w.reason ?? 'failed'}`).join('; ');
}

export function DevicesPage({ devices, now }: { devices: Device[]; now: number }) {
  const [search, setSearch] = useState('');
  const [node, setNode] = useState('');
  const [state, setState] = useState('');
  const nodes = [...new Set(devices.map((d) => d.spec.nodeName ?? ''))].filter(Boolean).sort();
  const states = [...new Set(devices.map((d) => d.status?.state ?? 'unknown'))].sort();
  const q = search.trim().toLowerCase();
  const shown = devices
    .filter((d) => !node || d.spec.nodeName === node)
    .filter((d) => !state || (d.status?.state ?? 'unknown') === state)
    .filter(
      (d) =>
        !q ||
        idOf(d).toLowerCase().includes(q) ||
        (d.spec.deviceModelRef?.name ?? '').toLowerCase().includes(q) ||
        (d.spec.protocol?.protocolName ?? '').toLowerCase().includes(q),
    )
    .sort((a, b) => idOf(a).localeCompare(idOf(b)));
  return (
    <main>
      <h1>Devices</h1>
      <search class="filters">
        <label>
          Search devices{' '}
          <input type="search" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Node{' '}
          <select value={node} onChange={(e) => setNode((e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {nodes.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <label>
          State{' '}
          <select value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {states.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </search>
      <table>
        <caption>
          {shown.length} of {devices.length} devices
        </caption>
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">Node</th>
            <th scope="col">Model</th>
            <th scope="col">Protocol</th>
            <th scope="col">State</th>
            <th scope="col">Last report</th>
            <th scope="col">Last error</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((d) => (
            <tr key={idOf(d)}>
              <th scope="row">
                <a href={`#/devices/${idOf(d)}`}>{idOf(d)}</a>
              </th>
              <td>{d.spec.nodeName ?? '–'}</td>
              <td>{d.spec.deviceModelRef?.name ?? '–'}</td>
              <td>{d.spec.protocol?.protocolName ?? '–'}</td>
              <td class={`state state-${d.status?.state ?? 'unknown'}`}>{d.status?.state ?? 'unknown'}</td>
              <td>{age(lastSeen(d), now)}</td>
              <td class="error">{lastError(d)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  );
}

export function NodesPage({ nodes, now }: { nodes: NodeInfo[]; now: number }) {
  return (
    <main>
      <h1>Nodes</h1>
      <table>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Presence</th>
            <th scope="col">Last seen</th>
            <th scope="col">Devices</th>
            <th scope="col">Queued reports</th>
            <th scope="col">Last refusal</th>
          </tr>
        </thead>
        <tbody>
          {nodes.map((n) => (
            <tr key={n.name}>
              <th scope="row">{n.name}</th>
              <td class={`state state-${n.presence}`}>{n.presence}</td>
              <td>{age(n.reports?.lastAppliedAt ?? n.since, now)}</td>
              <td>{n.devices}</td>
              <td>{n.reports ? n.reports.queued : '–'}</td>
              <td>
                {n.reports?.lastRefusal
                  ? `${n.reports.lastRefusal.reason} (${age(n.reports.lastRefusal.at, now)})`
                  : '–'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  );
}

export function ModelsPage({ models }: { models: DeviceModel[] }) {
  return (
    <main>
      <h1>Models</h1>
      {models.map((m) => (
        <section key={idOf(m)} aria-labelledby={`model-${idOf(m)}`}>
          <h2 id={`model-${idOf(m)}`}>
            {idOf(m)} <small>({m.spec.protocol ?? 'no protocol'})</small>
          </h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Property</th>
                <th scope="col">Type</th>
                <th scope="col">Access</th>
                <th scope="col">Range</th>
                <th scope="col">Unit</th>
                <th scope="col">Description</th>
              </tr>
            </thead>
            <tbody>
              {(m.spec.properties ?? []).map((p) => (
                <tr key={p.name}>
                  <th scope="row">{p.name}</th>
                  <td>{p.type ?? 'STRING'}</td>
                  <td>{p.accessMode ?? 'ReadWrite'}</td>
                  <td>
                    {p.minimum !== undefined || p.maximum !== undefined
                      ? `${p.minimum ?? '…'} – ${p.maximum ?? '…'}`
                      : '–'}
                  </td>
                  <td>{p.unit ?? '–'}</td>
                  <td>{p.description ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
    </main>
  );
}
