// Prometheus metrics of the event bus. Every metric is get-or-create on its registry, so several
// brokers/clients in one process (tests, the all-in-one edge) share one set of series.
import { Counter, Gauge, Registry } from 'prom-client';

/** The default registry of this package; pass your own `registry` option to keep metrics apart. */
export const metricsRegistry = new Registry();

export interface BrokerMetrics {
  messagesIn: Counter<string>;
  messagesOut: Counter<string>;
  publishDenied: Counter<string>;
  authFailures: Counter<string>;
  oversizedPackets: Counter<string>;
  persistenceFallbacks: Counter<string>;
  /** register a live broker whose client count the connected-clients gauge reports */
  track(source: { connectedClients: number }): () => void;
}

const liveBrokers = new WeakMap<Registry, Set<{ connectedClients: number }>>();

function counter(registry: Registry, name: string, help: string): Counter<string> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<string>;
  return new Counter({ name, help, registers: [registry] });
}

export function brokerMetrics(registry: Registry = metricsRegistry): BrokerMetrics {
  let live = liveBrokers.get(registry);
  if (!live) {
    const set = new Set<{ connectedClients: number }>();
    live = set;
    liveBrokers.set(registry, set);
    if (!registry.getSingleMetric('edgetwin_eventbus_broker_connected_clients')) {
      new Gauge({
        name: 'edgetwin_eventbus_broker_connected_clients',
        help: 'MQTT clients currently connected to the embedded broker(s)',
        registers: [registry],
        collect() {
          let n = 0;
          for (const b of set) n += b.connectedClients;
          this.set(n);
        },
      });
    }
  }
  const set = live;
  return {
    messagesIn: counter(
      registry,
      'edgetwin_eventbus_broker_messages_in_total',
      'PUBLISH packets received by the embedded broker from clients',
    ),
    messagesOut: counter(
      registry,
      'edgetwin_eventbus_broker_messages_out_total',
      'PUBLISH packets the embedded broker forwarded to subscribers',
    ),
    publishDenied: counter(
      registry,
      'edgetwin_eventbus_broker_publish_denied_total',
      'PUBLISH packets acknowledged but dropped because the ACL denied the topic',
    ),
    authFailures: counter(
      registry,
      'edgetwin_eventbus_broker_auth_failures_total',
      'CONNECT attempts refused because of bad or missing credentials',
    ),
    oversizedPackets: counter(
      registry,
      'edgetwin_eventbus_broker_oversized_packets_total',
      'connections closed because a packet declared more bytes than maxPacketBytes',
    ),
    persistenceFallbacks: counter(
      registry,
      'edgetwin_eventbus_broker_persistence_fallbacks_total',
      'broker starts that kept sessions in memory because the persistence directory could not be opened (disk full)',
    ),
    track(source) {
      set.add(source);
      return () => set.delete(source);
    },
  };
}

export function clientReconnectCounter(registry: Registry = metricsRegistry): Counter<string> {
  return counter(
    registry,
    'edgetwin_eventbus_client_reconnects_total',
    'Reconnect attempts made by event-bus clients after losing the broker',
  );
}
