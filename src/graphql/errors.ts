import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLError, GraphQLFormattedError } from 'graphql';

import { DomainError, ERROR_CODES, ErrorCode } from '../services/errors.js';

/** Request-level failures (parse, validation, limits, bad variables) are the client's input. */
const INPUT_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

export const INTERNAL_MESSAGE = 'Internal server error: the server log has the details under this request id';

/** graphql-js appends `Did you mean "nodes"?` to validation and coercion errors: schema names a production client should not learn. */
const SUGGESTION = /\s*Did you mean [^]*\?$/;

/** A failed statement (drizzle wraps the driver's error with the SQL and its parameters). */
function isDatabaseError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'DrizzleQueryError' || error.message.startsWith('Failed query:'));
}

/**
 * Maps every error onto the contract's codes. In production, anything that is not a
 * DomainError or a request error loses its message, stack and extensions: no SQL, paths or
 * provider messages reach clients (the server log keeps them).
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown, isProduction: boolean): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  if (original instanceof DomainError) {
    return { ...formatted, message: original.message, extensions: { ...original.extensions, code: original.code } };
  }
  const code = String(formatted.extensions?.code ?? '');
  const message = isProduction ? formatted.message.replace(SUGGESTION, '') : formatted.message;
  if (INPUT_CODES.has(code)) {
    return { ...formatted, message, extensions: { code: ErrorCode.BAD_USER_INPUT, reason: code } };
  }
  if (ERROR_CODES.has(code) && code !== ErrorCode.INTERNAL_SERVER_ERROR) {
    const { stacktrace: _stacktrace, ...rest } = formatted.extensions ?? {};
    return { ...formatted, message, extensions: isProduction ? { code } : rest };
  }
  // SQL and its parameters stay in the server log in every mode: they are never the client's business.
  if (isProduction || isDatabaseError(original)) {
    return { message: INTERNAL_MESSAGE, locations: formatted.locations, path: formatted.path, extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } };
  }
  return { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.INTERNAL_SERVER_ERROR } };
}

/** Same mapping for errors that never went through Apollo (WebSocket validation, HTTP guards). */
export function formatErrors(errors: readonly GraphQLError[], isProduction: boolean): GraphQLFormattedError[] {
  return errors.map((error) => formatError(error.toJSON(), error, isProduction));
}
