import crypto from 'node:crypto';

import { count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { distributions } from '../../src/db/schema.js';
import type { ReleaseChangedEvent } from '../../src/events/topics.js';
import {
  CancelDistributionDocument,
  DeprecateVersionDocument,
  DistributeUpdateDocument,
  DistributionDocument,
  DistributionsDocument,
  PauseDistributionDocument,
  ResumeDistributionDocument,
  UpdateDistributionPercentageDocument,
  UpdatePackageDocument,
} from '../generated/graphql.js';
import type { HttpClient } from '../helpers/client.js';
import { distribute, ownerWithPackage, readDistribution, waitForDistribution } from '../helpers/distribution.js';
import { ADMIN_ID, startTestServer, type TestServer } from '../helpers/server.js';
import { expectTimestampBetween } from '../helpers/timestamps.js';

let server: TestServer;
let admin: HttpClient;
let user: HttpClient;
const events: ReleaseChangedEvent[] = [];

beforeAll(async () => {
  server = await startTestServer();
  admin = await server.client('admin');
  user = await server.client('user');
  server.app.runtime.events.on('RELEASE_CHANGED', (event) => events.push(event));
});
afterAll(() => server?.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();

/**
 * The RELEASE_CHANGED reasons published for one distribution, once as many as `expected` have arrived
 * (delivery is asynchronous, so the last of several same-reason events may trail the mutation's answer).
 */
async function eventsFor(distributionId: string, expected: readonly string[], timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  const reasons = () => events.filter((e) => e.distributionId === distributionId).map((e) => e.reason);
  while (reasons().length < expected.length) {
    if (Date.now() > deadline) throw new Error(`expected RELEASE_CHANGED ${JSON.stringify(expected)} for ${distributionId}; got ${JSON.stringify(reasons())}`);
    await sleep(20);
  }
  return reasons();
}

async function distributionRows() {
  const [row] = await server.app.runtime.db.select({ n: count() }).from(distributions);
  return row!.n;
}

describe('IMMEDIATE', () => {
  it('goes live for every client at once: COMPLETED at 100 %, startedAt and the package’s distributedAt set, RELEASE_CHANGED published', async () => {
    const { extensionId, pkg } = await ownerWithPackage(server, admin);
    const before = Date.now();
    const d = await distribute(admin, { packageId: pkg.id, strategy: 'IMMEDIATE' });
    expect(d).toMatchObject({ packageId: pkg.id, extensionId, strategy: 'IMMEDIATE', status: 'COMPLETED', percentage: 100, mandatory: false, isRollback: false, steps: null, createdBy: ADMIN_ID });
    expect(Date.parse(d.startedAt!)).toBeGreaterThanOrEqual(before - 1000);
    expect(d.completedAt).toBe(d.startedAt);
    const read = await readDistribution(admin, d.id);
    expect(read).toMatchObject({ id: d.id, status: 'COMPLETED', package: { id: pkg.id, distributedAt: d.startedAt } });
    const expected = ['distribution-created'];
    expect(await eventsFor(d.id, expected)).toEqual(expected);
    expect(events.find((e) => e.distributionId === d.id)).toEqual({ extensionId, productId: null, distributionId: d.id, reason: 'distribution-created' });
    expect(events).toContainEqual({ extensionId, productId: null, distributionId: null, reason: 'package-created' });
  });
});

describe('GRADUAL', () => {
  it('offers a share of clients; raising, completing and lowering the percentage move it between ACTIVE and COMPLETED', async () => {
    const { pkg } = await ownerWithPackage(server, admin);
    const d = await distribute(admin, { packageId: pkg.id, strategy: 'GRADUAL', percentage: 12.5, mandatory: true });
    expect(d).toMatchObject({ status: 'ACTIVE', percentage: 12.5, mandatory: true, completedAt: null });
    expect((await user.data(UpdatePackageDocument, { id: pkg.id })).updatePackage!.distributedAt).toBe(d.startedAt);

    const raised = (await admin.data(UpdateDistributionPercentageDocument, { id: d.id, percentage: 60 })).updateDistributionPercentage;
    expect(raised).toMatchObject({ status: 'ACTIVE', percentage: 60 });
    const completing = Date.now();
    const full = (await admin.data(UpdateDistributionPercentageDocument, { id: d.id, percentage: 100 })).updateDistributionPercentage;
    expect(full).toMatchObject({ status: 'COMPLETED', percentage: 100 });
    expectTimestampBetween(full.completedAt, completing);
    const lowered = (await admin.data(UpdateDistributionPercentageDocument, { id: d.id, percentage: 5 })).updateDistributionPercentage;
    expect(lowered).toMatchObject({ status: 'ACTIVE', percentage: 5, completedAt: null, startedAt: d.startedAt });
    const expected = ['distribution-created', 'distribution-percentage', 'distribution-percentage', 'distribution-percentage'];
    expect(await eventsFor(d.id, expected)).toEqual(expected);
  });

  it('advances a ramp by itself, one step after each hold, to COMPLETED', async () => {
    const { pkg } = await ownerWithPackage(server, admin);
    const steps = [
      { percentage: 1, holdSeconds: 1 },
      { percentage: 20, holdSeconds: 1 },
      { percentage: 100, holdSeconds: 0 },
    ];
    const d = await distribute(admin, { packageId: pkg.id, strategy: 'GRADUAL', steps });
    expect(d).toMatchObject({ status: 'ACTIVE', percentage: 1, currentStep: 0, steps });
    expect(Date.parse(d.nextStepAt!) - Date.parse(d.startedAt!)).toBe(1000);

    const second = await waitForDistribution(admin, d.id, (x) => x.currentStep >= 1);
    expect(second).toMatchObject({ currentStep: 1, percentage: 20, status: 'ACTIVE' });
    const done = await waitForDistribution(admin, d.id, (x) => x.status === 'COMPLETED');
    expect(done).toMatchObject({ currentStep: 2, percentage: 100, nextStepAt: null });
    expect(Date.parse(done.completedAt!) - Date.parse(d.startedAt!)).toBeGreaterThanOrEqual(2000);
    const expected = ['distribution-created', 'distribution-step', 'distribution-step'];
    expect(await eventsFor(d.id, expected)).toEqual(expected);
  });

  it('stops the ramp on pause (the pending step does nothing) and resumes it with the hold it had left', async () => {
    const { pkg } = await ownerWithPackage(server, admin);
    const d = await distribute(admin, {
      packageId: pkg.id,
      strategy: 'GRADUAL',
      steps: [
        { percentage: 10, holdSeconds: 1 },
        { percentage: 50, holdSeconds: 1 },
        { percentage: 100, holdSeconds: 0 },
      ],
    });
    const pausing = Date.now();
    const paused = (await admin.data(PauseDistributionDocument, { id: d.id })).pauseDistribution;
    expect(paused).toMatchObject({ status: 'PAUSED', percentage: 10, currentStep: 0 });
    expectTimestampBetween(paused.pausedAt, pausing);
    await sleep(2500);
    expect(await readDistribution(admin, d.id)).toMatchObject({ status: 'PAUSED', percentage: 10, currentStep: 0 });
    expect(await admin.errorCode(PauseDistributionDocument, { id: d.id })).toBe('CONFLICT');

    const resumed = (await admin.data(ResumeDistributionDocument, { id: d.id })).resumeDistribution;
    expect(resumed).toMatchObject({ status: 'ACTIVE', percentage: 10, currentStep: 0, pausedAt: null });
    expect(Date.parse(resumed.nextStepAt!) - Date.parse(resumed.updatedAt)).toBeLessThanOrEqual(1000);
    expect(await admin.errorCode(ResumeDistributionDocument, { id: d.id })).toBe('CONFLICT');
    const done = await waitForDistribution(admin, d.id, (x) => x.status === 'COMPLETED');
    expect(done).toMatchObject({ currentStep: 2, percentage: 100 });
    const expected = ['distribution-created', 'distribution-paused', 'distribution-resumed', 'distribution-step', 'distribution-step'];
    expect(await eventsFor(d.id, expected)).toEqual(expected);
  });

  it('ends a running ramp when an admin sets the percentage by hand', async () => {
    const { pkg } = await ownerWithPackage(server, admin);
    const d = await distribute(admin, {
      packageId: pkg.id,
      strategy: 'GRADUAL',
      steps: [
        { percentage: 5, holdSeconds: 1 },
        { percentage: 100, holdSeconds: 0 },
      ],
    });
    const manual = (await admin.data(UpdateDistributionPercentageDocument, { id: d.id, percentage: 30 })).updateDistributionPercentage;
    expect(manual).toMatchObject({ status: 'ACTIVE', percentage: 30, steps: null, nextStepAt: null });
    await sleep(2000);
    expect(await readDistribution(admin, d.id)).toMatchObject({ status: 'ACTIVE', percentage: 30 });
  });
});

describe('HALTED (by a rollback)', () => {
  it('stops a ramp for good: the pending step does nothing and no admin change revives it', async () => {
    const { pkg } = await ownerWithPackage(server, admin);
    const d = await distribute(admin, { packageId: pkg.id, strategy: 'GRADUAL', steps: [{ percentage: 10, holdSeconds: 1 }, { percentage: 100, holdSeconds: 0 }] });
    const halted = await server.app.services.distribution.haltDistribution({ id: d.id, reason: 'rolled back to 1.0.0' });
    expect(halted).toMatchObject({ status: 'HALTED', statusReason: 'rolled back to 1.0.0', nextStepAt: null });
    await sleep(2000);
    expect(await readDistribution(admin, d.id)).toMatchObject({ status: 'HALTED', percentage: 10, currentStep: 0 });
    for (const document of [PauseDistributionDocument, ResumeDistributionDocument, CancelDistributionDocument]) {
      expect(await admin.errorCode(document, { id: d.id })).toBe('CONFLICT');
    }
    const expected = ['distribution-created', 'distribution-halted'];
    expect(await eventsFor(d.id, expected)).toEqual(expected);
  });
});

describe('SCHEDULED', () => {
  it('waits PENDING (not distributed) and goes live at scheduledAt by itself', async () => {
    const { pkg } = await ownerWithPackage(server, admin);
    const scheduledAt = inSeconds(2);
    const d = await distribute(admin, { packageId: pkg.id, strategy: 'SCHEDULED', scheduledAt });
    expect(d).toMatchObject({ status: 'PENDING', percentage: 100, scheduledAt, startedAt: null });
    expect((await user.data(UpdatePackageDocument, { id: pkg.id })).updatePackage!.distributedAt).toBeNull();
    const live = await waitForDistribution(admin, d.id, (x) => x.status !== 'PENDING');
    expect(live.status).toBe('COMPLETED');
    expect(Date.parse(live.startedAt!)).toBeGreaterThanOrEqual(Date.parse(scheduledAt));
    expect(live.package!.distributedAt).toBe(live.startedAt);
    const expected = ['distribution-created', 'distribution-live'];
    expect(await eventsFor(d.id, expected)).toEqual(expected);
  });

  it('paused before its time it does not go live; resumed after it, it goes live at once', async () => {
    const { pkg } = await ownerWithPackage(server, admin);
    const d = await distribute(admin, { packageId: pkg.id, strategy: 'SCHEDULED', scheduledAt: inSeconds(1), percentage: 40 });
    await admin.data(PauseDistributionDocument, { id: d.id });
    await sleep(2000);
    expect(await readDistribution(admin, d.id)).toMatchObject({ status: 'PAUSED', startedAt: null });
    const resuming = Date.now();
    const resumed = (await admin.data(ResumeDistributionDocument, { id: d.id })).resumeDistribution;
    expect(resumed).toMatchObject({ status: 'ACTIVE', percentage: 40 });
    expectTimestampBetween(resumed.startedAt, resuming); // past its scheduledAt, it goes live when resumed
  });
});

describe('refusals', () => {
  it('answers BAD_USER_INPUT for percentages out of range, ramps that do not increase, schedules in the past and mismatched strategies, creating nothing', async () => {
    const { pkg } = await ownerWithPackage(server, admin);
    const before = await distributionRows();
    const cases: Record<string, unknown>[] = [
      { strategy: 'GRADUAL', percentage: 101 },
      { strategy: 'GRADUAL', percentage: -1 },
      { strategy: 'GRADUAL', percentage: 33.333 },
      { strategy: 'GRADUAL' },
      { strategy: 'GRADUAL', steps: [{ percentage: 10, holdSeconds: 1 }, { percentage: 10, holdSeconds: 1 }] },
      { strategy: 'GRADUAL', steps: [{ percentage: 50, holdSeconds: 1 }, { percentage: 20, holdSeconds: 1 }] },
      { strategy: 'GRADUAL', steps: [{ percentage: 10, holdSeconds: -1 }] },
      { strategy: 'GRADUAL', steps: [] },
      { strategy: 'GRADUAL', percentage: 5, steps: [{ percentage: 10, holdSeconds: 1 }] },
      { strategy: 'SCHEDULED', scheduledAt: new Date(Date.now() - 60_000).toISOString() },
      { strategy: 'SCHEDULED' },
      { strategy: 'IMMEDIATE', percentage: 50 },
      { strategy: 'GRADUAL', percentage: 10, scheduledAt: inSeconds(60) },
    ];
    for (const input of cases) {
      const response = await admin.request(DistributeUpdateDocument, { input: { packageId: pkg.id, ...input } as never });
      expect({ input, code: response.errors?.[0]?.extensions?.code }).toEqual({ input, code: 'BAD_USER_INPUT' });
    }
    expect(await distributionRows()).toBe(before);

    const d = await distribute(admin, { packageId: pkg.id, strategy: 'GRADUAL', percentage: 10 });
    for (const percentage of [100.5, -0.01, 12.345]) {
      expect(await admin.errorCode(UpdateDistributionPercentageDocument, { id: d.id, percentage })).toBe('BAD_USER_INPUT');
    }
    expect(await readDistribution(admin, d.id)).toMatchObject({ percentage: 10 });
  });

  it('answers NOT_FOUND for an unknown package or distribution', async () => {
    const unknown = crypto.randomUUID();
    expect(await admin.errorCode(DistributeUpdateDocument, { input: { packageId: unknown, strategy: 'IMMEDIATE' } })).toBe('NOT_FOUND');
    for (const document of [PauseDistributionDocument, ResumeDistributionDocument, CancelDistributionDocument]) {
      expect(await admin.errorCode(document, { id: unknown })).toBe('NOT_FOUND');
    }
    expect(await admin.errorCode(UpdateDistributionPercentageDocument, { id: unknown, percentage: 5 })).toBe('NOT_FOUND');
    expect((await admin.data(DistributionDocument, { id: unknown })).distribution).toBeNull();
  });

  it('answers CONFLICT for a second live distribution of a package, until the first is cancelled', async () => {
    const { pkg } = await ownerWithPackage(server, admin);
    const first = await distribute(admin, { packageId: pkg.id, strategy: 'GRADUAL', percentage: 10 });
    const second = await admin.request(DistributeUpdateDocument, { input: { packageId: pkg.id, strategy: 'IMMEDIATE' } });
    expect(second.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(second.errors?.[0]?.message).toContain(first.id);
    // Racing requests: the partial unique index lets exactly one through.
    await admin.data(CancelDistributionDocument, { id: first.id, reason: 'wrong audience' });
    const raced = await Promise.all([1, 2, 3].map(() => admin.request(DistributeUpdateDocument, { input: { packageId: pkg.id, strategy: 'IMMEDIATE' } })));
    expect(raced.map((r) => r.errors?.[0]?.extensions?.code ?? 'OK').sort()).toEqual(['CONFLICT', 'CONFLICT', 'OK']);
    expect(await readDistribution(admin, first.id)).toMatchObject({ status: 'CANCELLED', statusReason: 'wrong audience' });
    expect(await admin.errorCode(PauseDistributionDocument, { id: first.id })).toBe('CONFLICT');
    expect(await admin.errorCode(UpdateDistributionPercentageDocument, { id: first.id, percentage: 50 })).toBe('CONFLICT');
  });

  it('answers CONFLICT for a package of a deprecated version', async () => {
    const { pkg, versions } = await ownerWithPackage(server, admin);
    await admin.data(DeprecateVersionDocument, { id: versions['1.1.0']!, reason: 'crashes on start' });
    const response = await admin.request(DistributeUpdateDocument, { input: { packageId: pkg.id, strategy: 'IMMEDIATE' } });
    expect(response.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(response.errors?.[0]?.message).toContain('deprecated');
  });

  it('is for admins only', async () => {
    const { pkg } = await ownerWithPackage(server, admin);
    expect(await user.errorCode(DistributeUpdateDocument, { input: { packageId: pkg.id, strategy: 'IMMEDIATE' } })).toBe('FORBIDDEN');
    expect(await user.errorCode(DistributionsDocument, {})).toBe('FORBIDDEN');
    expect(await user.errorCode(DistributionDocument, { id: crypto.randomUUID() })).toBe('FORBIDDEN');
  });
});

describe('distributions', () => {
  it('lists an owner’s distributions newest first, filtered by status, page by page', async () => {
    const { extensionId, pkg } = await ownerWithPackage(server, admin);
    const a = await distribute(admin, { packageId: pkg.id, strategy: 'GRADUAL', percentage: 1 });
    await admin.data(CancelDistributionDocument, { id: a.id });
    const b = await distribute(admin, { packageId: pkg.id, strategy: 'GRADUAL', percentage: 2 });
    await admin.data(CancelDistributionDocument, { id: b.id });
    const c = await distribute(admin, { packageId: pkg.id, strategy: 'IMMEDIATE' });

    const page1 = (await admin.data(DistributionsDocument, { extensionId, first: 2 })).distributions;
    expect(page1.totalCount).toBe(3);
    expect(page1.nodes.map((d) => d.id)).toEqual([c.id, b.id]);
    const page2 = (await admin.data(DistributionsDocument, { extensionId, first: 2, after: page1.pageInfo.endCursor })).distributions;
    expect(page2.nodes.map((d) => d.id)).toEqual([a.id]);
    expect(page2.pageInfo.hasNextPage).toBe(false);
    const cancelled = (await admin.data(DistributionsDocument, { extensionId, status: 'CANCELLED' })).distributions;
    expect(cancelled.nodes.map((d) => d.id)).toEqual([b.id, a.id]);
  });
});
