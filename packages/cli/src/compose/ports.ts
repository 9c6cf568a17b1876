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

/** The listen error (EADDRINUSE) somewhere in an error's cause chain, with the port it was for. */
function addressInUse(e: unknown): { port?: number } | undefined {
  for (let cur = e; cur instanceof Error; cur = (cur as Error).cause) {
    const err = cur as NodeJS.ErrnoException & { port?: number };
    if (err.code === 'EADDRINUSE') return { ...(err.port !== undefined ? { port: err.port } : {}) };
  }
  return undefined;
}

/**
 * A port already in use, said as a user can fix it (issue 9 §5): which port, the flag that moves it, and
 * the likely cause. `flags` maps each port the command opens to its flag. Other errors come back as they are.
 */
export function explainBusyPort(e: unknown, flags: ReadonlyArray<[port: number, flag: string]>): unknown {
  const busy = addressInUse(e);
  if (busy === undefined) return e;
  const flag = flags.find(([port]) => port !== 0 && port === busy.port)?.[1];
  const which = busy.port !== undefined ? `port ${busy.port} is already in use` : 'a port is already in use';
  const move = flag ? `choose another with ${flag}` : `choose other ports with ${flags.map(([, f]) => f).join(', ')}`;
  return new Error(`${which}: ${move} (0 picks a free one). Is another \`edgetwin up\` running?`, { cause: e });
}
