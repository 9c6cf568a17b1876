import { ControllerError } from '@edgetwin/device-controller/http/client';

/** Runs a controller call; on refusal prints the controller's finding lines (validator format) to stderr. */
export async function printFindings(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (e) {
    if (e instanceof ControllerError) {
      for (const line of e.findings) process.stderr.write(`${line}\n`);
      return false;
    }
    throw e;
  }
}
