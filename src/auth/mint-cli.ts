import { parseArgs } from 'node:util';

import { ConfigError, loadConfig } from '../config.js';
import * as jose from 'jose';

import { describeSeconds, localJwtSecret, mintToken, type Role } from './tokens.js';

/**
 * `npm run token -- --role admin [--sub <uuid>] [--expires 12h]`: prints a bearer token
 * signed with JWT_SECRET (or the local secret the server generated under DATA_DIR), refusing a
 * lifetime the server would refuse (JWT_MAX_TTL, 30 days by default).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      role: { type: 'string', default: 'admin' },
      sub: { type: 'string' },
      expires: { type: 'string', default: '12h' },
    },
  });
  if (values.role !== 'admin' && values.role !== 'user') {
    throw new Error(`--role must be admin or user, not ${JSON.stringify(values.role)}`);
  }
  const config = loadConfig();
  if (config.jwtJwksUrl && !config.jwtSecret) {
    throw new Error('JWT_JWKS_URL is set: tokens come from your identity provider, not from this command');
  }
  const secret = config.jwtSecret ?? localJwtSecret(config.dataDir);
  const token = await mintToken({ secret, role: values.role as Role, sub: values.sub, expiresIn: values.expires });
  // Refuse here what the server would refuse: a token that outlives JWT_MAX_TTL.
  const { exp, iat } = jose.decodeJwt(token);
  if (config.jwtMaxTtlSeconds !== undefined && exp! - iat! > config.jwtMaxTtlSeconds) {
    throw new Error(`--expires ${values.expires} is longer than the ${describeSeconds(config.jwtMaxTtlSeconds)} the server accepts (JWT_MAX_TTL)`);
  }
  process.stdout.write(`${token}\n`);
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.problems.join('\n') : (error as Error).message;
  process.stderr.write(`token: ${message}\n`);
  process.exit(1);
});
