// Monaco runs its language services in web workers, which Vite bundles only
// from `?worker` imports in our own sources: graphiql/setup-workers/vite holds
// the same imports but inside node_modules, where `vite dev`'s dependency
// pre-bundling cannot load them. GraphiQL needs the editor's, JSON's
// (variables, headers, response) and GraphQL's (operations).
import type { Environment } from 'monaco-editor';
import EditorWorker from 'monaco-editor/esm/vs/editor/editor.worker.js?worker';
import JsonWorker from 'monaco-editor/esm/vs/language/json/json.worker.js?worker';
import GraphQLWorker from 'monaco-graphql/esm/graphql.worker.js?worker';

const environment: Environment = {
  getWorker(_workerId, label) {
    if (label === 'json') return new JsonWorker();
    if (label === 'graphql') return new GraphQLWorker();
    return new EditorWorker();
  },
};
window.MonacoEnvironment = environment;
