import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

import { registerApply } from './apply.js';
import { registerDelete } from './delete.js';
import { registerDescribe } from './describe.js';
import { registerGet } from './get.js';
import { registerMapper } from './mapper.js';
import { registerTwin } from './twin.js';
import { registerEdgeLocal } from './edge-local.js';
import { registerValidate } from './validate.js';

// One entry per command file. Keep alphabetical.
export const commands: RegisterCommand[] = [
  registerApply,
  registerDelete,
  registerDescribe,
  registerEdgeLocal,
  registerGet,
  registerMapper,
  registerTwin,
  registerValidate,
];
