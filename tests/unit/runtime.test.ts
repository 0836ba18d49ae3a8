import { describe, expect, it } from 'vitest';

import pkg from '../../package.json' with { type: 'json' };

describe('the Node.js runtime the project runs and is tested on', () => {
  it('is a supported LTS line (22 or newer), as package.json engines and .nvmrc say', async () => {
    const major = Number(process.versions.node.split('.')[0]);
    expect(major).toBeGreaterThanOrEqual(22);
    expect(pkg.engines.node).toBe(`>=${major}`);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(new URL('../../.nvmrc', import.meta.url), 'utf8').trim()).toBe(process.versions.node);
  });
});
