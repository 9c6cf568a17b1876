// Every example app dials the edge broker the same way: through the project's one client wrapper, which
// reconnects with backoff and keeps subscriptions across reconnects.
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import type { Logger } from 'pino';

export async function connectAppBus(brokerUrl: string, app: string, logger: Logger): Promise<BusClient> {
  return connectBus({
    url: brokerUrl,
    clientId: `${app}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    logger: logger.child({ component: 'bus' }),
  });
}
