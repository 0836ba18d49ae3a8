import { GraphQLDateTime, GraphQLJSONObject, GraphQLSafeInt } from 'graphql-scalars';

/**
 * Scalars of the contract: `DateTime` (ISO-8601), `JSONObject` (metadata) and `SafeInt`
 * for byte counts, which exceed Int's 2^31 but stay exact in JSON numbers up to 2^53 − 1.
 */
export const DateTimeScalar = GraphQLDateTime;
export const JSONObjectScalar = GraphQLJSONObject;
export const ByteCountScalar = GraphQLSafeInt;

export const scalarsMap = [{ type: Date, scalar: DateTimeScalar }];
