// GraphQL Code Generator: typed documents for the storefront's operations.
// schema.graphql is the client-facing schema, printed by `supergraph schema`
// (`npm run schema`); the operations are the storefront contract's.
// SCHEMA and CODEGEN_OUT move the input and the output (the tests use them).
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: process.env.SCHEMA ?? 'schema.graphql',
  documents: ['../../router-config/storefront/*.graphql'],
  generates: {
    [process.env.CODEGEN_OUT ?? 'src/gql/']: {
      preset: 'client',
      // Named so it is not mistaken for Apollo Client's useFragment hook.
      presetConfig: { fragmentMasking: { unmaskFunctionName: 'getFragmentData' } },
      config: {
        // The schema's custom scalars, as they travel in JSON.
        scalars: { Decimal: 'string', DateTime: 'string' },
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
  ignoreNoDocuments: false,
};

export default config;
