import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

import { registerEdgeLocal } from './edge-local.js';
import { registerMapper } from './mapper.js';
import { registerValidate } from './validate.js';

// One entry per command file. Keep alphabetical.
export const commands: RegisterCommand[] = [registerEdgeLocal, registerMapper, registerValidate];
