// `edgetwin passwd`: a password hash for the edge bus user file (`edgetwin edge --auth FILE`, issue 10 §4),
// in Mosquitto's `$7$` format so the same line also works in a Mosquitto password file. The password is
// read from stdin or EDGETWIN_PASSWORD, never from the command line (it would show in `ps`).
import { DEFAULT_PBKDF2_ITERATIONS, hashPassword } from '@edgetwin/eventbus/password-hash';
import type { Command } from 'commander';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerPasswd(program: Command): void {
  program
    .command('passwd')
    .description('print a password hash ($7$, as mosquitto_passwd) for the edge bus user file; password from stdin')
    .option('--iterations <n>', 'PBKDF2-SHA512 iterations', (v) => Number.parseInt(v, 10), DEFAULT_PBKDF2_ITERATIONS)
    .addHelpText('after', '\nExample:\n  read -rs PW && printf %s "$PW" | edgetwin passwd\n')
    .action(async (o: { iterations: number }) => {
      if (!Number.isInteger(o.iterations) || o.iterations < 1000 || o.iterations > 1_000_000)
        program.error('--iterations must be 1000..1000000', { exitCode: 2 });
      const raw = process.env.EDGETWIN_PASSWORD ?? (process.stdin.isTTY ? undefined : await readStdin());
      // one trailing newline is the shell's, not the password's
      const password = raw?.replace(/\r?\n$/, '');
      if (!password)
        program.error('give the password on stdin (printf %s "$PW" | edgetwin passwd) or in EDGETWIN_PASSWORD', {
          exitCode: 2,
        });
      process.stdout.write(`${await hashPassword(password as string, o.iterations)}\n`);
    });
}
