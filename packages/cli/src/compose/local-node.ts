// `edgetwin up` runs the cloud and its edge node on one machine, and stays one command (issue 10 §1):
// the cloud registers its own node and hands the edge the join token directly, in memory.
import { existsSync } from 'node:fs';
import type { NodeRegistry } from '@edgetwin/device-controller/cloud-link/index';

/** A join token for this machine's node, unless it joined before and is still registered. */
export async function localNodeJoinToken(
  nodes: NodeRegistry | undefined,
  node: string,
  dataDir: string,
): Promise<string | undefined> {
  if (!nodes) return undefined;
  const { identityFile } = await import('@edgetwin/devicetwin/cloud-link/node-credential');
  if (nodes.has(node) && existsSync(identityFile(dataDir, node))) return undefined;
  return nodes.add(node, { rejoin: true });
}
