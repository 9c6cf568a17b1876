// ONVIF config checks (issue 13): what `edgetwin validate` and the mapper say about a camera manifest.
import { configErrors, formatConfigIssue } from '@edgetwin/api';
import { describe, expect, it } from 'vitest';
import { deviceServiceUrl, validateOnvifDevice } from '../src/drivers/onvif/config.js';
import { device, prop } from './runtime-helpers.js';

const errors = (d: ReturnType<typeof device>) => configErrors(validateOnvifDevice(d)).map(formatConfigIssue);

describe('ONVIF config', () => {
  it("accepts KubeEdge's url forms and rejects credentials in the URL", () => {
    expect(deviceServiceUrl('192.168.168.64:80')).toBe('http://192.168.168.64/onvif/device_service');
    expect(deviceServiceUrl('cam.local:8080')).toBe('http://cam.local:8080/onvif/device_service');
    expect(deviceServiceUrl('https://cam/onvif/dev')).toBe('https://cam/onvif/dev');
    expect(deviceServiceUrl('http://admin:pw@cam')).toBeUndefined();
  });

  it('refuses a password given inline, a property naming no datum, and a wrong STREAM type, all at once', () => {
    const d = device(
      'onvif',
      [
        prop('snapshotz', { type: 'STRING', visitor: {} }),
        prop('saveFrame', { type: 'INT', visitor: { dataType: 'stream', format: 'gif' } }),
        prop('pan', { type: 'STREAM', visitor: {} }),
      ],
      { protocolConfig: { url: '10.0.0.5:80', userName: 'admin', password: 'hunter2' } },
    );
    const e = errors(d);
    expect(e.join('\n')).toMatch(/password must be the path of a file holding the password/);
    expect(e.join('\n')).toMatch(
      /property name "snapshotz" names no camera datum: set visitor data to one of streamURI/,
    );
    expect(e.join('\n')).toMatch(/saveFrame is a STREAM property \(model type STREAM or STRING, not INT\)/);
    expect(e.join('\n')).toMatch(/format "gif" is not one of jpg, jpeg, png/);
    expect(e.join('\n')).toMatch(/outputDir is missing/);
    expect(e.join('\n')).toMatch(/type STREAM is for saveFrame and saveVideo; pan is DOUBLE/);
  });

  it('accepts a property named freely with visitor data', () => {
    const d = device(
      'onvif',
      [prop('gate-view', { type: 'STRING', accessMode: 'ReadOnly', visitor: { data: 'snapshot' } })],
      {
        protocolConfig: { url: '10.0.0.5', userName: 'admin', password: '/etc/secret/password' },
      },
    );
    expect(errors(d)).toEqual([]);
  });
});
