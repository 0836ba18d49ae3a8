import { expect } from 'vitest';

/** The BAD_USER_INPUT error `run` throws, as its message and the field it names (fails the test if it accepts). */
export function refusal(run: () => unknown): { message: string; field: unknown } {
  try {
    run();
  } catch (error) {
    const { code, message, extensions } = error as { code: string; message: string; extensions: { field?: unknown } };
    expect(code).toBe('BAD_USER_INPUT');
    return { message, field: extensions.field };
  }
  throw new Error('accepted');
}
