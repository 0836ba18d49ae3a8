import { expect } from 'vitest';

import { DeltaError, type DeltaErrorCode } from '../../src/delta/index.js';

/** The DeltaError `run` throws, as its code and message (fails the test if it throws something else or nothing). */
export function deltaRefusal(run: () => unknown): { code: DeltaErrorCode; message: string } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DeltaError);
    return { code: (error as DeltaError).code, message: (error as DeltaError).message };
  }
  throw new Error('expected a DeltaError, nothing was thrown');
}
