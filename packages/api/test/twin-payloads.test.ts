// KubeEdge's twin, state and membership payloads: exact field names, and decoders that name the bad field
// instead of throwing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeWriteStatus } from '../src/mapper-contract.js';
import {
  decodeGetRequest,
  decodeMsgTwin,
  decodeStateUpdate,
  decodeTwinUpdate,
  errorResult,
  eventIdOf,
  MAX_PAYLOAD_BYTES,
  normaliseState,
} from '../src/twin-payloads.js';
import { checkValue, parseValue, sameValue, typeFromTwinMetadata } from '../src/values.js';

const failure = (d: { ok: boolean; error?: string }) => (d.ok ? 'ok' : d.error);

describe('twin/update', () => {
  it('decodes a KubeEdge mapper report as sent on the wire', () => {
    const wire = JSON.stringify({
      event_id: 'e1',
      timestamp: 1700000000000,
      twin: {
        temperature: { actual: { value: '21.5', metadata: { timestamp: 1700000000000 } }, metadata: { type: 'float' } },
        switch: { expected: { value: 'ON' }, optional: true, expected_version: { cloud: 2, edge: 1 } },
        gone: null,
      },
    });
    const d = decodeTwinUpdate(Buffer.from(wire));
    expect(d).toEqual({
      ok: true,
      value: {
        event_id: 'e1',
        timestamp: 1700000000000,
        twin: {
          temperature: {
            actual: { value: '21.5', metadata: { timestamp: 1700000000000 } },
            metadata: { type: 'float' },
          },
          switch: { expected: { value: 'ON' }, optional: true, expected_version: { cloud: 2, edge: 1 } },
          gone: null,
        },
      },
    });
  });

  it('names the field at fault', () => {
    expect(failure(decodeTwinUpdate('{"twin":{"t":{"actual":{"value":21.5}}}}'))).toBe(
      'twin.t.actual.value must be a string (got number); encode numbers and JSON as text',
    );
    expect(failure(decodeTwinUpdate('{"twin":[]}'))).toBe(
      'twin must be an object mapping property names to {expected, actual}',
    );
    expect(failure(decodeTwinUpdate('{"event_id":5,"twin":{}}'))).toBe('event_id must be a string');
    expect(failure(decodeTwinUpdate('{"timestamp":"now","twin":{}}'))).toBe('timestamp must be a number (Unix ms)');
    expect(failure(decodeTwinUpdate('{"twin":{"t":{"optional":"yes"}}}'))).toBe('twin.t.optional must be a boolean');
    expect(failure(decodeTwinUpdate('{"twin":{"t":{"actual_version":{"cloud":1}}}}'))).toBe(
      'twin.t.actual_version must be {"cloud":<number>,"edge":<number>}',
    );
    expect(failure(decodeTwinUpdate('not json'))).toMatch(/^payload is not JSON: /);
    expect(failure(decodeTwinUpdate('[1]'))).toBe('payload must be a JSON object');
    expect(failure(decodeTwinUpdate('x'.repeat(MAX_PAYLOAD_BYTES + 1)))).toBe(
      `payload is ${MAX_PAYLOAD_BYTES + 1} bytes, larger than the ${MAX_PAYLOAD_BYTES} byte limit`,
    );
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.uint8Array().map((a) => Buffer.from(a)),
        ),
        (input) => {
          const d = decodeTwinUpdate(input);
          expect(typeof d.ok).toBe('boolean');
          decodeStateUpdate(input);
          decodeGetRequest(input);
          decodeWriteStatus(input);
          eventIdOf(input);
        },
      ),
    );
  });

  it('keeps event_id and timestamp optional, as KubeEdge does', () => {
    expect(decodeTwinUpdate('{"twin":{}}')).toEqual({ ok: true, value: { event_id: '', timestamp: 0, twin: {} } });
    expect(decodeMsgTwin(null, 'twin.x')).toEqual({ ok: true, value: null });
  });
});

describe('get, state and results', () => {
  it('accepts an empty get request', () => {
    expect(decodeGetRequest('')).toEqual({ ok: true, value: { event_id: '', timestamp: 0 } });
    expect(decodeGetRequest('{"event_id":"g1"}')).toEqual({ ok: true, value: { event_id: 'g1', timestamp: 0 } });
  });

  it('decodes state/update and normalises states case-insensitively', () => {
    expect(decodeStateUpdate('{"event_id":"s","state":"Online"}')).toEqual({
      ok: true,
      value: { event_id: 's', timestamp: 0, state: 'Online' },
    });
    expect(failure(decodeStateUpdate('{"state":1}'))).toBe(
      'state must be a string (online, offline, ok, unknown, unhealthy)',
    );
    expect(normaliseState('ONLINE')).toBe('online');
    expect(normaliseState('unhealthy')).toBe('unhealthy');
    expect(normaliseState('sleeping')).toBeUndefined();
  });

  it('builds error results with KubeEdge field names', () => {
    expect(errorResult('e9', 400, 'bad value', 42)).toEqual({
      event_id: 'e9',
      timestamp: 42,
      code: 400,
      reason: 'bad value',
    });
    expect(eventIdOf('{"event_id":"abc","twin":5}')).toBe('abc');
    expect(eventIdOf('{')).toBe('');
  });

  it('decodes write acknowledgements from mappers', () => {
    expect(decodeWriteStatus('{"property":"p","desired":"1","state":"verified","timestamp":5,"attempts":2}')).toEqual({
      ok: true,
      value: { property: 'p', desired: '1', state: 'verified', timestamp: 5, attempts: 2 },
    });
    expect(failure(decodeWriteStatus('{"property":"p","desired":"1","state":"done"}'))).toBe(
      'state must be one of pending, written, verified, failed',
    );
  });
});

describe('typed values', () => {
  it('parses values by model type and says why one does not fit', () => {
    expect(parseValue('INT', ' 42 ')).toEqual({ ok: true, value: 42 });
    expect(parseValue('INT', '4.2')).toEqual({ ok: false, reason: '"4.2" is not an integer' });
    expect(parseValue('FLOAT', '1e3')).toEqual({ ok: true, value: 1000 });
    expect(parseValue('BOOLEAN', 'true')).toEqual({ ok: true, value: true });
    expect(parseValue('BOOLEAN', 'ON')).toEqual({ ok: false, reason: '"ON" is not a boolean (true or false)' });
    expect(parseValue('BYTES', 'AAE=')).toEqual({ ok: true, value: 'AAE=' });
    expect(parseValue('STRING', '{"json": true}')).toEqual({ ok: true, value: '{"json": true}' });
  });

  it('checks bounds and compares numbers as numbers', () => {
    const prop = { type: 'FLOAT' as const, minimum: '0', maximum: '100.0' };
    expect(checkValue(prop, '100')).toEqual({ ok: true, value: 100 });
    expect(checkValue(prop, '-0.5')).toEqual({ ok: false, reason: '-0.5 is below the minimum 0' });
    expect(sameValue('FLOAT', '1.0', '1')).toBe(true);
    expect(sameValue('STRING', '1.0', '1')).toBe(false);
    expect(typeFromTwinMetadata('integer')).toBe('INT');
    expect(typeFromTwinMetadata('quaternion')).toBeUndefined();
  });
});
