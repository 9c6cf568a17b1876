// The edgetwin web console (issue 16 §1, docs/console.md): served by the controller under /console/, behind
// the API's auth (a session cookie from the login), kept current by the controller's live stream.
import type { Device, DeviceModel } from '@edgetwin/api/types';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, type ControllerEvent, follow, idOf, type NodeInfo } from './api.js';
import { DevicePage } from './device.js';
import { Login } from './login.js';
import { DevicesPage, ModelsPage, NodesPage } from './tables.js';
import './style.css';

/** Points kept per property in the page: the controller's own bound (an hour at one a second). */
const MAX_POINTS = 3600;

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function Console({ onLoggedOut }: { onLoggedOut: () => void }) {
  const hash = useHash();
  const [devices, setDevices] = useState<Map<string, Device>>(new Map());
  const [models, setModels] = useState<DeviceModel[]>([]);
  const [nodes, setNodes] = useState<NodeInfo[]>([]);
  const [points, setPoints] = useState<Map<string, Array<[number, number]>>>(new Map());
  const [events, setEvents] = useState<ControllerEvent[]>([]);
  const [live, setLive] = useState(false);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    const tick = setInterval(() => setNow(Date.now()), 1000);
    const stop = follow({
      devices: (items) => setDevices(new Map(items.map((d) => [idOf(d), d]))),
      device: (d) => setDevices((m) => new Map(m).set(idOf(d), d)),
      deleted: (id) =>
        setDevices((m) => {
          const n = new Map(m);
          n.delete(id);
          return n;
        }),
      models: setModels,
      nodes: setNodes,
      point: (p) =>
        setPoints((m) => {
          const key = `${p.device}\u0000${p.property}`;
          const list = [...(m.get(key) ?? []), [p.t, p.v] as [number, number]].slice(-MAX_POINTS);
          return new Map(m).set(key, list);
        }),
      event: (e) => setEvents((l) => [...l.filter((x) => x.firstTimestamp !== e.firstTimestamp), e].slice(-200)),
      connected: (on) => {
        setLive(on);
        // a stream refused for want of a session: back to the login
        if (!on) void api.whoami().catch(() => onLoggedOut());
      },
    });
    return () => {
      clearInterval(tick);
      stop();
    };
  }, []);

  const route = hash.replace(/^#\/?/, '');
  let page: preact.JSX.Element;
  if (route.startsWith('devices/')) {
    const id = decodeURIComponent(route.slice('devices/'.length));
    const d = devices.get(id);
    const prefix = `${id}\u0000`;
    const mine = new Map(
      [...points.entries()].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]),
    );
    const model = models.find(
      (m) => idOf(m) === `${d?.metadata.namespace ?? 'default'}/${d?.spec.deviceModelRef?.name ?? ''}`,
    );
    page = (
      <DevicePage
        id={id}
        device={d}
        model={model}
        points={mine}
        events={events.filter((e) => `${e.object.namespace ?? ''}/${e.object.name}` === id)}
        now={now}
      />
    );
  } else if (route === 'nodes') page = <NodesPage nodes={nodes} now={now} />;
  else if (route === 'models') page = <ModelsPage models={models} />;
  else page = <DevicesPage devices={[...devices.values()]} now={now} />;

  const current = route.startsWith('devices') || route === '' ? 'devices' : route;
  const link = (to: string, label: string) => (
    <li>
      <a href={`#/${to}`} aria-current={current === to ? 'page' : undefined}>
        {label}
      </a>
    </li>
  );
  return (
    <>
      <header>
        <span class="brand">edgetwin</span>
        <nav aria-label="Main">
          <ul>
            {link('devices', 'Devices')}
            {link('nodes', 'Nodes')}
            {link('models', 'Models')}
          </ul>
        </nav>
        <span class={live ? 'live on' : 'live'} role="status">
          {live ? 'live' : 'reconnecting…'}
        </span>
        <button type="button" onClick={() => void api.logout().finally(onLoggedOut)}>
          Log out
        </button>
      </header>
      {page}
    </>
  );
}

function App() {
  const [state, setState] = useState<'checking' | 'in' | 'out'>('checking');
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    // a one-time link from `edgetwin up`: #ticket=..., used once and taken out of the address bar
    const ticket = /[#&]ticket=([\w-]+)/.exec(location.hash)?.[1];
    const start = ticket
      ? api.login({ ticket }).then(
          () => history.replaceState(null, '', `${location.pathname}#/devices`),
          () => {
            history.replaceState(null, '', location.pathname);
            setError('That login link was used already or has expired: log in with the token.');
          },
        )
      : Promise.resolve();
    void start.then(() =>
      api.whoami().then(
        () => setState('in'),
        () => setState('out'),
      ),
    );
  }, []);
  if (state === 'checking') return <p>Loading…</p>;
  if (state === 'out') return <Login error={error} onDone={() => setState('in')} />;
  return <Console onLoggedOut={() => setState('out')} />;
}

render(<App />, document.getElementById('app')!);
