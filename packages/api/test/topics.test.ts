// Topic names: KubeEdge's $hw contract (two-level device IDs), the mapper contract and the cloud link.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cloudTopics,
  DEVICE_IN,
  DEVICE_OUT,
  dataTopic,
  deviceTopic,
  mapperDevicesFilter,
  mapperDeviceTopic,
  mapperPresenceTopic,
  membershipGetResultTopic,
  membershipGetTopic,
  membershipUpdatedTopic,
  parseCloudTopic,
  parseEdgeTopic,
  parseMapperDeviceTopic,
  parseWriteStatusTopic,
  TWIN_SUBSCRIPTIONS,
  writeStatusTopic,
} from '../src/topics.js';
import { deviceId, splitId } from '../src/types.js';

// A Kubernetes name never contains '/', '+', '#' (DNS-1123), so these are the IDs topics must carry.
const dnsName = fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?$/);

describe('KubeEdge $hw topics', () => {
  it('spells device topics exactly as KubeEdge >= 1.17 does', () => {
    expect(deviceTopic('default/thermo-1', 'twin/update')).toBe('$hw/events/device/default/thermo-1/twin/update');
    expect(deviceTopic('factory/press', 'twin/update/delta')).toBe('$hw/events/device/factory/press/twin/update/delta');
    expect(deviceTopic('default/led', 'state/update/result')).toBe('$hw/events/device/default/led/state/update/result');
    expect(membershipUpdatedTopic('edge-1')).toBe('$hw/events/node/edge-1/membership/updated');
    expect(membershipGetTopic('edge-1')).toBe('$hw/events/node/edge-1/membership/get');
    expect(membershipGetResultTopic('edge-1')).toBe('$hw/events/node/edge-1/membership/get/result');
    expect(TWIN_SUBSCRIPTIONS).toContain('$hw/events/device/+/+/twin/update');
  });

  it('puts a bare name in the default namespace', () => {
    expect(deviceTopic('lamp', 'twin/get')).toBe('$hw/events/device/default/lamp/twin/get');
    expect(splitId('lamp')).toEqual({ namespace: 'default', name: 'lamp' });
    expect(deviceId({ metadata: { name: 'lamp' } })).toBe('default/lamp');
  });

  it('parses back every topic it builds', () => {
    fc.assert(
      fc.property(dnsName, dnsName, fc.constantFrom(...DEVICE_IN, ...DEVICE_OUT), (ns, name, suffix) => {
        expect(parseEdgeTopic(deviceTopic(`${ns}/${name}`, suffix))).toEqual({
          kind: 'device',
          id: `${ns}/${name}`,
          namespace: ns,
          name,
          suffix,
        });
      }),
    );
    expect(parseEdgeTopic(membershipGetTopic('edge-1'))).toEqual({ kind: 'membership-get', node: 'edge-1' });
  });

  it('says why a topic is not one of its own', () => {
    const reason = (t: string) => {
      const p = parseEdgeTopic(t);
      return p.kind === 'invalid' ? p.reason : `parsed as ${p.kind}`;
    };
    // the pre-1.17 single-level form has no namespace level
    expect(reason('$hw/events/device/thermo-1/twin/update')).toBe(
      'topic $hw/events/device/thermo-1/twin/update: unknown action "update"',
    );
    expect(reason('$hw/events/device/default/x/twin/explode')).toBe(
      'topic $hw/events/device/default/x/twin/explode: unknown action "twin/explode"',
    );
    expect(reason('$hw/events/device/x')).toBe('topic $hw/events/device/x has no {namespace}/{name}/{action} levels');
    expect(reason('$hw/events/device//x/twin/get')).toBe(
      'topic $hw/events/device//x/twin/get has an empty namespace or name level',
    );
    expect(reason('$hw/events/node/n1/membership/updated')).toBe(
      'topic $hw/events/node/n1/membership/updated is not $hw/events/node/{node}/membership/get',
    );
    expect(reason('other/topic')).toBe('topic other/topic is not under $hw/events/');
  });
});

describe('mapper contract topics', () => {
  it('round-trips device and write-status topics', () => {
    fc.assert(
      fc.property(dnsName, dnsName, dnsName, dnsName, (node, protocol, ns, name) => {
        const id = `${ns}/${name}`;
        expect(parseMapperDeviceTopic(mapperDeviceTopic(node, protocol, id))).toEqual({ node, protocol, id });
        expect(parseWriteStatusTopic(writeStatusTopic(id))).toBe(id);
      }),
    );
  });

  it('spells the mapper topics and refuses look-alikes', () => {
    expect(mapperDeviceTopic('edge-1', 'modbus', 'default/pump')).toBe(
      'edgetwin/v1/nodes/edge-1/mappers/modbus/devices/default/pump',
    );
    expect(mapperDevicesFilter('edge-1', 'modbus')).toBe('edgetwin/v1/nodes/edge-1/mappers/modbus/devices/+/+');
    expect(mapperPresenceTopic('edge-1', 'gpio')).toBe('edgetwin/v1/nodes/edge-1/mappers/gpio/presence');
    expect(dataTopic('default/pump')).toBe('$ke/events/device/default/pump/data/update');
    expect(parseMapperDeviceTopic('edgetwin/v1/nodes/edge-1/mappers/modbus/presence')).toBeUndefined();
    expect(parseWriteStatusTopic('edgetwin/v1/devices/default/pump/write')).toBeUndefined();
  });
});

describe('cloud link topics', () => {
  it('round-trips every per-node topic', () => {
    expect(parseCloudTopic(cloudTopics.device('edge-1', 'default/pump'))).toEqual({
      node: 'edge-1',
      kind: 'device',
      id: 'default/pump',
    });
    expect(parseCloudTopic(cloudTopics.model('edge-1', 'default/pump-model'))).toEqual({
      node: 'edge-1',
      kind: 'model',
      id: 'default/pump-model',
    });
    for (const kind of ['index', 'reports', 'acks', 'presence'] as const)
      expect(parseCloudTopic(cloudTopics[kind]('edge-1'))).toEqual({ node: 'edge-1', kind });
  });

  it('ignores topics outside the cloud link', () => {
    expect(parseCloudTopic('edgetwin/cloud/v1/nodes/edge-1/desired/other')).toBeUndefined();
    expect(parseCloudTopic('$hw/events/node/edge-1/membership/get')).toBeUndefined();
    expect(parseCloudTopic(`${cloudTopics.root}/`)).toBeUndefined();
  });
});
