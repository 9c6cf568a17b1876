// What the GPIO driver needs from a GPIO implementation: request a line, read, write, watch edges,
// release. Levels here are physical (0 = low); active-low inversion is the driver's job.

export type Direction = 'in' | 'out';
export type Edge = 'none' | 'rising' | 'falling' | 'both';
export type Level = 0 | 1;
export type BackendName = 'simulated' | 'libgpiod' | 'sysfs';
export const BACKENDS: readonly BackendName[] = ['simulated', 'libgpiod', 'sysfs'];

export interface LineRequest {
  pin: number;
  direction: Direction;
  edge: Edge;
  /** level an output line starts at */
  initial?: Level;
  /** who holds the line (shown by gpioinfo and the simulated chip) */
  consumer: string;
}

export interface GpioLine {
  read(): Promise<Level>;
  write(level: Level): Promise<void>;
  /** calls back on every edge the line was requested for; returns a stop function */
  watch(onEdge: (level: Level, timestamp: number) => void): () => void;
  release(): Promise<void>;
}

export interface GpioBackend {
  readonly name: BackendName;
  requestLine(chip: string, req: LineRequest): Promise<GpioLine>;
}

/** Errors that name the pin and the fix. */
export class GpioError extends Error {
  constructor(
    message: string,
    readonly code: 'backend-unavailable' | 'pin-inaccessible' | 'pin-busy' | 'io' | 'config',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GpioError';
  }
}

/** Turns an OS error from opening a line into a GpioError naming the pin and what to do. */
export function lineOpenError(backend: BackendName, chip: string, pin: number, e: unknown): GpioError {
  const code = (e as NodeJS.ErrnoException)?.code ?? '';
  const msg = (e as Error)?.message ?? String(e);
  const where = `GPIO pin ${pin} on ${chip} (${backend})`;
  if (code === 'EACCES' || code === 'EPERM' || /permission denied/i.test(msg))
    return new GpioError(
      `${where} is not accessible: permission denied. Add the mapper's user to the "gpio" group (sudo usermod -aG gpio $USER) or grant access to /dev/${chip}`,
      'pin-inaccessible',
      { cause: e },
    );
  if (code === 'EBUSY' || /busy/i.test(msg))
    return new GpioError(`${where} is busy: another process or driver holds it (check with gpioinfo)`, 'pin-busy', {
      cause: e,
    });
  if (code === 'ENOENT' || /no such file/i.test(msg))
    return new GpioError(
      `${where} does not exist: ${msg}. Check the chip name (ls /dev/gpiochip*) and the pin number`,
      'pin-inaccessible',
      { cause: e },
    );
  if (code === 'EINVAL') return new GpioError(`${where} is out of range for the chip: ${msg}`, 'config', { cause: e });
  // node-libgpiod reports every failure as "Unable to ..." without errno: name the usual causes
  return new GpioError(
    `${where} could not be opened: ${msg}. Usual causes: the line is held by another process (gpioinfo), ` +
      `the mapper's user cannot open /dev/${chip} (add it to the "gpio" group), or the pin is not on this chip`,
    'io',
    { cause: e },
  );
}
