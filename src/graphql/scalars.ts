import { GraphQLError, GraphQLScalarType, Kind, print, type ObjectValueNode, type ValueNode } from 'graphql';
import { GraphQLDateTime, GraphQLJSONObject, GraphQLSafeInt } from 'graphql-scalars';

import { MAX_METADATA_DEPTH } from '../services/metadata.js';

/** A JSON value written inline in a query, as plain objects and arrays, refusing nesting past `MAX_METADATA_DEPTH`. */
function jsonFromLiteral(node: ValueNode, variables: Record<string, unknown> | null | undefined, depth: number): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.VARIABLE:
      return variables?.[node.name.value];
    case Kind.LIST:
    case Kind.OBJECT:
      if (depth > MAX_METADATA_DEPTH) {
        throw new GraphQLError(`JSON objects nest at most ${MAX_METADATA_DEPTH} levels of objects and arrays`);
      }
      if (node.kind === Kind.LIST) return node.values.map((value) => jsonFromLiteral(value, variables, depth + 1));
      return objectFromLiteral(node, variables, depth);
    default:
      throw new GraphQLError(`JSON cannot hold ${print(node)}: write text in double quotes`);
  }
}

function objectFromLiteral(node: ObjectValueNode, variables: Record<string, unknown> | null | undefined, depth: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const field of node.fields) object[field.name.value] = jsonFromLiteral(field.value, variables, depth + 1);
  return object;
}

/**
 * graphql-scalars' JSONObject, except that an object written inline (`metadata: {a: 1}`) is
 * read into ordinary objects: graphql-scalars builds them without a prototype, which the
 * database layer cannot take (500 instead of the row). Inline and variable values now behave
 * the same.
 */
export const JSONObjectScalar = new GraphQLScalarType({
  ...GraphQLJSONObject.toConfig(),
  parseLiteral(node, variables) {
    if (node.kind !== Kind.OBJECT) throw new GraphQLError(`JSONObject cannot represent a non-object value: ${node.kind === Kind.STRING ? JSON.stringify(node.value) : node.kind}`);
    return objectFromLiteral(node, variables, 1);
  },
});

/**
 * Scalars of the contract: `DateTime` (ISO-8601), `JSONObject` (metadata) and `SafeInt`
 * for byte counts, which exceed Int's 2^31 but stay exact in JSON numbers up to 2^53 − 1.
 */
export const DateTimeScalar = GraphQLDateTime;
export const ByteCountScalar = GraphQLSafeInt;

export const scalarsMap = [{ type: Date, scalar: DateTimeScalar }];
