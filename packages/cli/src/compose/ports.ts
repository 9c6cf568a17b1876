// Default addresses of a one-machine edgetwin. The edge broker takes 1883 because that is where KubeEdge
// users point their apps (edgecore's external-broker default, reference §4).
export const DEFAULTS = {
  host: '127.0.0.1',
  edgeMqttPort: 1883,
  cloudMqttPort: 1884,
  controllerHttpPort: 8080,
  node: 'edge-node-1',
  dataDir: '.edgetwin',
} as const;
