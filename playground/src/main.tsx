import './monaco-workers';
import 'graphiql/style.css';
import '@graphiql/plugin-explorer/style.css';
import './main.css';

import { explorerPlugin } from '@graphiql/plugin-explorer';
import { useGraphiQL, useGraphiQLActions } from '@graphiql/react';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { useEffect } from 'react';
import { createRoot } from 'react-dom/client';

/** What the router puts in the page in place of `<!--playground-config-->`. */
export interface PlaygroundConfig {
  endpoint: string;
  /** JSON text for the headers editor. */
  headers: string | null;
  /** One per operation; GraphiQL titles each with its operation's name. */
  tabs: { query: string; variables: string | null }[];
}

async function loadConfig(): Promise<PlaygroundConfig> {
  const script = document.getElementById('playground-config');
  if (script?.textContent) return JSON.parse(script.textContent);
  // `vite dev` serves index.html untouched: preload the storefront's operations.
  if (import.meta.env.DEV) return (await import('./dev-config')).devConfig;
  // A bundle served by something else than the router: GraphiQL's defaults.
  return { endpoint: '/graphql', headers: null, tabs: [] };
}

/**
 * GraphiQL introspects as it mounts, before its headers editor exists, so
 * without headers: introspect again once the editor holds them, since the
 * token may be what lets the caller introspect.
 */
function IntrospectWithHeaders() {
  const headerEditor = useGraphiQL((state) => state.headerEditor);
  const { introspect } = useGraphiQLActions();
  useEffect(() => {
    if (headerEditor) void introspect();
  }, [headerEditor, introspect]);
  return null;
}

const config = await loadConfig();
// Subscriptions (OrderStatus) go over graphql-ws to the same endpoint; the
// headers editor's contents are its connection_init payload.
const subscriptionUrl = new URL(config.endpoint, location.href);
subscriptionUrl.protocol = subscriptionUrl.protocol === 'https:' ? 'wss:' : 'ws:';
const fetcher = createGraphiQLFetcher({ url: config.endpoint, subscriptionUrl: subscriptionUrl.href });

createRoot(document.getElementById('root')!).render(
  <GraphiQL
    fetcher={fetcher}
    plugins={[explorerPlugin()]}
    // Used only while the browser has no tabs stored from an earlier visit.
    defaultTabs={config.tabs.length > 0 ? config.tabs : undefined}
    // A tab without headers of its own (every preloaded one) shows these.
    defaultHeaders={config.headers ?? undefined}
    // Open on the headers editor, so a partner sees where the token goes.
    defaultEditorToolsVisibility="headers"
  >
    {config.headers && <IntrospectWithHeaders />}
  </GraphiQL>,
);
