// Generates large manifests in memory for the size tests (never committed).

/** One Device whose properties list makes the text at least `bytes` long. */
export function bigDevice(bytes: number): string {
  const head = `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: big
spec:
  deviceModelRef:
    name: big-model
  nodeName: edge-1
  protocol:
    protocolName: modbus
  properties:
`;
  const parts = [head];
  let size = head.length;
  for (let i = 0; size < bytes; i++) {
    const p = `    - name: register-${i}\n      collectCycle: 1000\n      visitors:\n        configData:\n          register: HoldingRegister\n          offset: ${i}\n`;
    parts.push(p);
    size += p.length;
  }
  return parts.join('');
}

/** Many small valid Device + DeviceModel pairs, at least `bytes` long. */
export function manyDevices(bytes: number): string {
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const doc = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: model-${i}
spec:
  protocol: modbus
  properties:
    - name: temperature
      type: FLOAT
      accessMode: ReadWrite
      minimum: "0"
      maximum: "100"
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: device-${i}
spec:
  deviceModelRef:
    name: model-${i}
  nodeName: edge-1
  protocol:
    protocolName: modbus
  properties:
    - name: temperature
      desired:
        value: "${i % 100}"
---
`;
    parts.push(doc);
    size += doc.length;
  }
  return parts.join('');
}
