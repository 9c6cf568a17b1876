// edgetwin completion bash|zsh (issue 16 §3): a shell completion script made from the command tree itself,
// so a new command or flag completes without anyone editing a script by hand.
import { UsageError } from '@edgetwin/device-controller/cli/common';
import type { Command } from 'commander';
import type { RegisterCommand } from './index.js';

/** Every command path ('' for the top level, 'twin', 'twin set') with its subcommands and long flags. */
export function commandTree(program: Command): Map<string, { subcommands: string[]; flags: string[] }> {
  const out = new Map<string, { subcommands: string[]; flags: string[] }>();
  const walk = (cmd: Command, path: string) => {
    const subs = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
    const flags = cmd.options.flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f)));
    if (path === '') flags.push('--help', '--version');
    else flags.push('--help');
    out.set(path, { subcommands: subs.map((c) => c.name()), flags: [...new Set(flags)].sort() });
    for (const c of subs) walk(c, path ? `${path} ${c.name()}` : c.name());
  };
  walk(program, '');
  return out;
}

/** Words a kind argument takes (get, describe): completed as the first argument after the command. */
const KIND_WORDS: Record<string, string[]> = {
  get: ['devices', 'devicemodels', 'nodes', 'history'],
  describe: ['device', 'devicemodel', 'node'],
  completion: ['bash', 'zsh'],
};

export function bashScript(program: Command): string {
  const tree = commandTree(program);
  const cases = [...tree.entries()]
    .map(([path, { subcommands, flags }]) => {
      const words = [...subcommands, ...(KIND_WORDS[path] ?? []), ...flags].join(' ');
      return `    "${path}") words="${words}" ;;`;
    })
    .join('\n');
  return `# bash completion for edgetwin (made by \`edgetwin completion bash\`)
# Load it now:      source <(edgetwin completion bash)
# Or for good:      edgetwin completion bash > /etc/bash_completion.d/edgetwin
_edgetwin() {
  local cur path words i w
  cur="\${COMP_WORDS[COMP_CWORD]}"
  path=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    case "\${path:+$path }$w" in
${[...tree.keys()]
  .filter((p) => p !== '')
  .map((p) => `      "${p}") path="${p}" ;;`)
  .join('\n')}
    esac
  done
  case "$path" in
${cases}
    *) words="" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(printf '%s\\n' $words | grep -- '^-')" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(printf '%s\\n' $words | grep -v -- '^-')" -- "$cur"))
    [[ \${#COMPREPLY[@]} -eq 0 ]] && COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _edgetwin edgetwin
`;
}

export function zshScript(program: Command): string {
  // zsh runs bash completion functions through bashcompinit: one script, one behaviour in both shells.
  return `#compdef edgetwin
# zsh completion for edgetwin (made by \`edgetwin completion zsh\`)
# Load it now:      source <(edgetwin completion zsh)
# Or for good:      edgetwin completion zsh > "\${fpath[1]}/_edgetwin"
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashScript(program)}`;
}

export const registerCompletion: RegisterCommand = (program: Command) => {
  program
    .command('completion')
    .description('print a shell completion script: source <(edgetwin completion bash)')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      if (shell === 'bash') process.stdout.write(bashScript(program));
      else if (shell === 'zsh') process.stdout.write(zshScript(program));
      else throw new UsageError(`completion ${shell}: unknown shell (expected bash or zsh)`);
    });
};
