// Turns what modbus-serial throws into DriverErrors that say which device, unit, line and request failed.

import { DriverError } from '../../framework/driver.js';

const EXCEPTION_NAMES: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'slave device failure',
  5: 'acknowledge',
  6: 'slave device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

export interface RequestContext {
  /** "device default/thermo (unit 1 on tcp://127.0.0.1:5502)" */
  where: string;
  /** "reading holding 10..11" */
  action: string;
  timeoutMs: number;
}

export function modbusExceptionName(code: number): string {
  return EXCEPTION_NAMES[code] ?? 'unknown exception';
}

export function toDriverError(e: unknown, ctx: RequestContext): DriverError {
  if (e instanceof DriverError) return e;
  const err = e as { message?: string; modbusCode?: number; errno?: string; code?: string };
  const msg = err?.message ?? String(e);
  if (typeof err?.modbusCode === 'number') {
    const code = err.modbusCode;
    return new DriverError(
      `${ctx.where}: exception ${code} (${modbusExceptionName(code)}) ${ctx.action}`,
      'exception',
      code === 5 || code === 6 || code === 11,
      { cause: e },
    );
  }
  if (err?.errno === 'ETIMEDOUT' || /timed out/i.test(msg))
    return new DriverError(`${ctx.where}: no answer within ${ctx.timeoutMs} ms ${ctx.action}`, 'timeout', true, {
      cause: e,
    });
  if (err?.errno === 'ECONNREFUSED' || err?.code === 'ECONNREFUSED' || /port not open/i.test(msg))
    return new DriverError(`${ctx.where}: not connected (${msg}) ${ctx.action}`, 'not-connected', true, { cause: e });
  return new DriverError(`${ctx.where}: ${msg} ${ctx.action}`, 'io', true, { cause: e });
}
