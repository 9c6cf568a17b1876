import type { ResolvedProperty } from '@edgetwin/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  extractBit,
  formatForType,
  setBit,
  type TransformSpec,
  toEngineering,
  toRaw,
  transformSpec,
} from '../src/framework/transforms.js';

function prop(over: Partial<ResolvedProperty> = {}): ResolvedProperty {
  return {
    name: 'temperature',
    type: 'FLOAT',
    accessMode: 'ReadWrite',
    visitor: {},
    collectCycleMs: 1000,
    reportCycleMs: 1000,
    reportToCloud: true,
    ...over,
  };
}
function spec(p: ResolvedProperty): TransformSpec {
  const s = transformSpec(p);
  if (!s.ok) throw new Error(s.reason);
  return s.value;
}

describe('scale and valueOffset', () => {
  it('turns a raw register into an engineering value and back', () => {
    const p = prop({ visitor: { scale: 0.1, valueOffset: -40 } });
    const s = spec(p);
    expect(toEngineering(653, p, s)).toEqual({ ok: true, value: '25.3' });
    expect(toRaw('25.3', p, s)).toEqual({ ok: true, value: 653 });
  });

  it('accepts scale and valueOffset given as strings, as KubeEdge samples quote numbers', () => {
    const p = prop({ visitor: { scale: '2', valueOffset: '1' } });
    expect(toEngineering(10, p, spec(p))).toEqual({ ok: true, value: '21' });
  });

  it('ignores visitor offset, which is a Modbus register address, not a value offset', () => {
    const p = prop({ visitor: { register: 'HoldingRegister', offset: 10, scale: 0.1 } });
    const s = spec(p);
    expect(toEngineering(215, p, s)).toEqual({ ok: true, value: '21.5' });
    expect(toRaw('21.5', p, s)).toEqual({ ok: true, value: 215 });
  });

  it('round-trips any integer raw value through scale and valueOffset', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -32768, max: 65535 }),
        fc.constantFrom(0.1, 0.01, 0.5, 2, 10),
        fc.integer({ min: -100, max: 100 }),
        (raw, scale, valueOffset) => {
          const p = prop({ type: 'DOUBLE', visitor: { scale, valueOffset } });
          const s = spec(p);
          const eng = toEngineering(raw, p, s);
          if (!eng.ok) return false;
          const back = toRaw(eng.value, p, s);
          return back.ok && back.value === raw;
        },
      ),
    );
  });

  it('rejects a zero or non-numeric scale naming the property and key', () => {
    expect(transformSpec(prop({ visitor: { scale: 0 } }))).toEqual({
      ok: false,
      reason: 'property temperature: scale must not be 0',
    });
    const bad = transformSpec(prop({ visitor: { scale: 'x' } }));
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.reason).toMatch(/temperature: scale must be a number/);
  });
});

describe('bounds on writes', () => {
  it('refuses an out-of-range value by default, naming the bound', () => {
    const p = prop({ type: 'INT', visitor: { min: 0, max: 100 } });
    expect(toRaw('101', p, spec(p))).toEqual({
      ok: false,
      reason: 'property temperature: 101 is above the maximum 100',
    });
    expect(toRaw('-1', p, spec(p))).toEqual({ ok: false, reason: 'property temperature: -1 is below the minimum 0' });
  });

  it('clamps instead when clamp is true', () => {
    const p = prop({ type: 'INT', visitor: { min: 0, max: 100, clamp: true } });
    expect(toRaw('150', p, spec(p))).toEqual({ ok: true, value: 100 });
    expect(toRaw('-5', p, spec(p))).toEqual({ ok: true, value: 0 });
  });

  it("falls back to the model's minimum and maximum", () => {
    const p = prop({ type: 'INT', minimum: 10, maximum: 20 });
    expect(toRaw('25', p, spec(p)).ok).toBe(false);
    expect(toRaw('15', p, spec(p))).toEqual({ ok: true, value: 15 });
  });

  it('refuses a value of the wrong type', () => {
    const p = prop({ type: 'INT' });
    expect(toRaw('warm', p, spec(p))).toEqual({ ok: false, reason: 'property temperature: "warm" is not an integer' });
  });
});

describe('typed formatting', () => {
  it('formats for the model type', () => {
    expect(formatForType('INT', 2.6)).toEqual({ ok: true, value: '3' });
    expect(formatForType('FLOAT', 0.1 * 3)).toEqual({ ok: true, value: '0.3' });
    expect(formatForType('BOOLEAN', 1)).toEqual({ ok: true, value: 'true' });
    expect(formatForType('BOOLEAN', 'OFF')).toEqual({ ok: true, value: 'false' });
    expect(formatForType('STRING', 'PAUSED')).toEqual({ ok: true, value: 'PAUSED' });
    expect(formatForType('INT', 'abc').ok).toBe(false);
  });
});

describe('bit extraction', () => {
  it('reads one bit of an integer', () => {
    const p = prop({ type: 'BOOLEAN', visitor: { bit: 3 } });
    expect(toEngineering(0b1000, p, spec(p))).toEqual({ ok: true, value: 'true' });
    expect(toEngineering(0b0111, p, spec(p))).toEqual({ ok: true, value: 'false' });
  });

  it('sets one bit and leaves the others', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 31 }),
        fc.boolean(),
        (w, b, on) => {
          const out = setBit(w, b, on);
          return extractBit(out, b) === on && (out ^ w) >>> 0 === (extractBit(w, b) === on ? 0 : (2 ** b) >>> 0);
        },
      ),
    );
  });

  it('refuses a bit write that is not 0/1/true/false, and a bit outside 0..52', () => {
    const p = prop({ type: 'INT', visitor: { bit: 0 } });
    expect(toRaw('2', p, spec(p)).ok).toBe(false);
    expect(toRaw('1', p, spec(p))).toEqual({ ok: true, value: true });
    expect(transformSpec(prop({ visitor: { bit: 60 } })).ok).toBe(false);
  });
});

describe('on/off strings', () => {
  it('maps a boolean raw value to ON/OFF and back, and refuses anything else', () => {
    const p = prop({ type: 'STRING', visitor: { onValue: 'ON', offValue: 'OFF' } });
    const s = spec(p);
    expect(toEngineering(true, p, s)).toEqual({ ok: true, value: 'ON' });
    expect(toEngineering(0, p, s)).toEqual({ ok: true, value: 'OFF' });
    expect(toRaw('OFF', p, s)).toEqual({ ok: true, value: false });
    expect(toRaw('BLINK', p, s)).toEqual({
      ok: false,
      reason: 'property temperature: "BLINK" is neither "ON" nor "OFF"',
    });
  });

  it('needs both strings', () => {
    expect(transformSpec(prop({ visitor: { onValue: 'ON' } })).ok).toBe(false);
  });
});
