// `npm run dev` only (the router puts the real configuration in the page):
// a tab per storefront operation, with the fragments it spreads.
import { Kind, parse, visit, type DefinitionNode, type FragmentDefinitionNode } from 'graphql';

import type { PlaygroundConfig } from './main';

const files = import.meta.glob<string>('../../router-config/storefront/*.graphql', {
  query: '?raw',
  import: 'default',
  eager: true,
});

// Enough to run the catalog's queries against the demo catalog; paste the rest.
const variables: Record<string, object> = {
  ProductListing: { first: 12, category: 'kitchen' },
  ProductPage: { slug: 'classic-carbon-steel-chef-s-knife' },
  MyOrders: { first: 10 },
};

const definitions = Object.values(files).flatMap((source) =>
  parse(source).definitions.map((node) => ({ node, text: source.slice(node.loc!.start, node.loc!.end) })),
);
const fragments = new Map(
  definitions
    .filter((d): d is { node: FragmentDefinitionNode; text: string } => d.node.kind === Kind.FRAGMENT_DEFINITION)
    .map((d) => [d.node.name.value, d]),
);

/** The fragments `node` spreads, directly or through other fragments. */
function spreads(node: DefinitionNode, found = new Set<string>()): Set<string> {
  visit(node, {
    FragmentSpread({ name: { value } }) {
      if (found.has(value)) return;
      found.add(value);
      spreads(fragments.get(value)!.node, found);
    },
  });
  return found;
}

export const devConfig: PlaygroundConfig = {
  endpoint: '/graphql',
  headers: null,
  tabs: definitions.flatMap(({ node, text }) => {
    if (node.kind !== Kind.OPERATION_DEFINITION) return [];
    const name = node.name!.value;
    const parts = [text, ...[...spreads(node)].map((fragment) => fragments.get(fragment)!.text)];
    return [{ query: parts.join('\n\n') + '\n', variables: name in variables ? JSON.stringify(variables[name], null, 2) : null }];
  }),
};
