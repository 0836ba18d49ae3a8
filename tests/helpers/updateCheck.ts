import type { HttpClient } from './client.js';
import type { UpdateInfo } from '../../src/services/distribution/updateCheck.js';

/** The update check as an extension client sends it. */
export const CHECK_FOR_UPDATES = `query CheckForUpdates($currentVersion: String!, $extensionId: ID, $productId: ID, $clientId: String, $includePrerelease: Boolean) {
  checkForUpdates(currentVersion: $currentVersion, extensionId: $extensionId, productId: $productId, clientId: $clientId, includePrerelease: $includePrerelease) {
    fromVersion toVersion packageId packageUrl packageSize checksum isDelta deltaFromVersion isRollback mandatory releaseNotes distributionId
  }
}`;

export const UPDATE_AVAILABLE = `subscription UpdateAvailable($currentVersion: String!, $extensionId: ID, $productId: ID, $clientId: String, $includePrerelease: Boolean) {
  updateAvailable(currentVersion: $currentVersion, extensionId: $extensionId, productId: $productId, clientId: $clientId, includePrerelease: $includePrerelease) {
    fromVersion toVersion packageId isDelta isRollback mandatory distributionId
  }
}`;

/** An offer as the API answers it (the service's UpdateInfo, as JSON). */
export type Offer = UpdateInfo;

export interface CheckArgs {
  currentVersion: string;
  extensionId?: string;
  productId?: string;
  clientId?: string;
  includePrerelease?: boolean;
}

export async function check(client: HttpClient, args: CheckArgs): Promise<Offer | null> {
  return (await client.data<{ checkForUpdates: Offer | null }>(CHECK_FOR_UPDATES, args as never)).checkForUpdates;
}

/** Polls the update check until `done` holds (events reach the release state asynchronously). */
export async function checkUntil(client: HttpClient, args: CheckArgs, done: (offer: Offer | null) => boolean, timeoutMs = 5000): Promise<Offer | null> {
  const deadline = Date.now() + timeoutMs;
  let offer = await check(client, args);
  while (!done(offer)) {
    if (Date.now() > deadline) throw new Error(`update check never reached the expected answer; last: ${JSON.stringify(offer)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    offer = await check(client, args);
  }
  return offer;
}
