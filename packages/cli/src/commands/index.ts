// The edgetwin commands, one file each, loaded on demand: a call of one command loads only its own file and
// what it imports (issue 15, target 4: `get` must not load the broker, SQLite, node-opcua...). The command tree
// as a whole (help, completion, an unknown or missing command) loads them all.
import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

// One entry per command file, named as the command it registers. Keep alphabetical.
const loaders: Record<string, () => Promise<RegisterCommand>> = {
  apply: async () => (await import('./apply.js')).registerApply,
  broker: async () => (await import('./broker.js')).registerBroker,
  call: async () => (await import('./call.js')).registerCall,
  cloud: async () => (await import('./cloud.js')).registerCloud,
  completion: async () => (await import('./completion.js')).registerCompletion,
  delete: async () => (await import('./delete.js')).registerDelete,
  describe: async () => (await import('./describe.js')).registerDescribe,
  edge: async () => (await import('./edge.js')).registerEdge,
  'edge-local': async () => (await import('./edge-local.js')).registerEdgeLocal,
  get: async () => (await import('./get.js')).registerGet,
  mapper: async () => (await import('./mapper.js')).registerMapper,
  node: async () => (await import('./node.js')).registerNode,
  passwd: async () => (await import('./passwd.js')).registerPasswd,
  probe: async () => (await import('./probe.js')).registerProbe,
  simulate: async () => (await import('./simulate.js')).registerSimulate,
  twin: async () => (await import('./twin.js')).registerTwin,
  up: async () => (await import('./up.js')).registerUp,
  validate: async () => (await import('./validate.js')).registerValidate,
};

/**
 * The commands to register for a command line: only the named one when the first argument names a command
 * and help is not asked for, else all of them (so help lists them all and a typo gets its suggestion).
 */
export async function commandsFor(argv: readonly string[]): Promise<RegisterCommand[]> {
  const [first] = argv;
  const one = first !== undefined && Object.hasOwn(loaders, first) && first !== 'completion' && first !== 'help';
  return Promise.all((one ? [loaders[first]!] : Object.values(loaders)).map((load) => load()));
}
