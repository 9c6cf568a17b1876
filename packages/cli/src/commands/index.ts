import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

import { registerApply } from './apply.js';
import { registerBroker } from './broker.js';
import { registerCall } from './call.js';
import { registerCloud } from './cloud.js';
import { registerCompletion } from './completion.js';
import { registerDelete } from './delete.js';
import { registerDescribe } from './describe.js';
import { registerEdgeLocal } from './edge-local.js';
import { registerEdge } from './edge.js';
import { registerGet } from './get.js';
import { registerMapper } from './mapper.js';
import { registerNode } from './node.js';
import { registerPasswd } from './passwd.js';
import { registerProbe } from './probe.js';
import { registerSimulate } from './simulate.js';
import { registerTwin } from './twin.js';
import { registerUp } from './up.js';
import { registerValidate } from './validate.js';

// One entry per command file. Keep alphabetical.
export const commands: RegisterCommand[] = [
  registerApply,
  registerBroker,
  registerCall,
  registerCloud,
  registerCompletion,
  registerDelete,
  registerDescribe,
  registerEdge,
  registerEdgeLocal,
  registerGet,
  registerMapper,
  registerNode,
  registerPasswd,
  registerProbe,
  registerSimulate,
  registerTwin,
  registerUp,
  registerValidate,
];
