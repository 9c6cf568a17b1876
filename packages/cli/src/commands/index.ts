import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

// One entry per command file. Keep alphabetical.
export const commands: RegisterCommand[] = [];
