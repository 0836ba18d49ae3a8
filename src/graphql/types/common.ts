import { Field, ObjectType } from 'type-graphql';

@ObjectType({ description: 'Where a page of a list ends and whether more follows.' })
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage: boolean;

  @Field(() => String, { nullable: true, description: 'Pass as `after` to fetch the next page.' })
  endCursor: string | null;
}

/** Maps a service Page to the GraphQL connection shape shared by every list. */
export function connection<T>(page: { nodes: T[]; totalCount: number; hasNextPage: boolean; endCursor: string | null }) {
  return { nodes: page.nodes, totalCount: page.totalCount, pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor } };
}

