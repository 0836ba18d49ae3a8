import { describe, expect, it } from 'vitest';

import { ConfigError, loadConfig } from '../../src/config.js';
import { jobIdFor, uuidV5 } from '../../src/jobs/engine.js';

describe('deterministic job ids', () => {
  it('are RFC 9562 version-5 UUIDs (the RFC’s DNS example)', () => {
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('name one job per queue and key', () => {
    const id = jobIdFor('distribution.ramp-step', 'd1:0:2');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(jobIdFor('distribution.ramp-step', 'd1:0:2')).toBe(id);
    expect(jobIdFor('distribution.go-live', 'd1:0:2')).not.toBe(id);
    expect(jobIdFor('distribution.ramp-step', 'd1:0:3')).not.toBe(id);
    // The separator keeps queue and key apart: "a" + "b:c" is not "a:b" + "c".
    expect(jobIdFor('a', 'b:c')).not.toBe(jobIdFor('a:b', 'c'));
  });
});

describe('job engine settings', () => {
  it('default to a 60 s supervise pass and a 30 s backstop poll, without test queues', () => {
    expect(loadConfig({}).jobs).toEqual({ superviseIntervalSeconds: 60, pollIntervalSeconds: 30, testQueues: false, testEveryMs: undefined });
  });

  it('read JOBS_SUPERVISE_INTERVAL, JOBS_POLL_INTERVAL and the test switches', () => {
    expect(loadConfig({ JOBS_SUPERVISE_INTERVAL: '1s', JOBS_POLL_INTERVAL: '500ms', JOBS_TEST_QUEUES: '1', JOBS_TEST_EVERY_INTERVAL: '100ms' }).jobs).toEqual({
      superviseIntervalSeconds: 1,
      pollIntervalSeconds: 0.5,
      testQueues: true,
      testEveryMs: 100,
    });
  });

  it('refuse intervals pg-boss cannot take, and test queues in production', () => {
    let problems: string[] = [];
    try {
      loadConfig({ JOBS_SUPERVISE_INTERVAL: '500ms', JOBS_POLL_INTERVAL: '100ms', JOBS_TEST_QUEUES: '1', NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40) });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual([
      expect.stringMatching(/^JOBS_SUPERVISE_INTERVAL="500ms" is invalid: expected a duration/),
      expect.stringMatching(/^JOBS_POLL_INTERVAL="100ms" is invalid: expected a duration/),
      'JOBS_TEST_QUEUES=1 is for tests only and refused when NODE_ENV=production',
    ]);
  });
});
