// Writes the licence of every npm package whose code is in the bundle, the
// workers' included: the bundle vendors them, and their licences ask for it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Plugin, Rollup } from 'vite';

const nodeModules = fileURLToPath(new URL('./node_modules/', import.meta.url));

/** The folder of the package a bundled module comes from, if it is a package's. */
function packageDir(id: string): string | undefined {
  // Vite's and Rolldown's own helpers have virtual ids ("\0vite/preload-helper.js").
  const virtual = /^\0(vite|rolldown)\//.exec(id);
  if (virtual) return join(nodeModules, virtual[1]);
  const path = id.replace(/\?.*$/, '');
  const at = path.lastIndexOf('/node_modules/');
  if (at < 0) return undefined;
  const [scope, name] = path.slice(at + '/node_modules/'.length).split('/');
  return join(path.slice(0, at), 'node_modules', scope.startsWith('@') ? `${scope}/${name}` : scope);
}

// Packages that ship no licence file: the one of the package they are
// published from (the same repository, or the same author's MIT text).
const licenceFrom: Record<string, string> = {
  '@graphiql/plugin-doc-explorer': 'graphiql',
  '@graphiql/plugin-explorer': 'graphiql',
  '@graphiql/plugin-history': 'graphiql',
  'react-compiler-runtime': 'react',
  'react-remove-scroll-bar': 'react-remove-scroll',
};

/** The package's licence and notice files (Monaco's lists what it bundles). */
function licenceText(name: string, dir: string): string {
  const from = licenceFrom[name];
  if (from) return `(This package ships no licence file: this is the one of ${from}, from the same repository or author.)\n\n${licenceText(from, join(nodeModules, from))}`;
  const files = readdirSync(dir).filter((f) => /^(licen[cs]e|copying|notice|thirdpartynotices)([.-].*)?$/i.test(f));
  if (files.length === 0) throw new Error(`${dir} ships no licence file: say in licenses.ts whose it is`);
  return files.map((f) => readFileSync(join(dir, f), 'utf8').trim()).join('\n\n');
}

export function thirdPartyLicenses(fileName: string): { plugin: Plugin; workerPlugin: () => Plugin } {
  const dirs = new Set<string>();
  const record = (bundle: Rollup.OutputBundle) => {
    for (const output of Object.values(bundle)) {
      if (output.type === 'chunk') output.moduleIds.map(packageDir).forEach((dir) => dir && dirs.add(dir));
    }
  };
  return {
    workerPlugin: () => ({
      name: 'third-party-licenses:worker',
      generateBundle(_, bundle) {
        record(bundle);
      },
    }),
    plugin: {
      name: 'third-party-licenses',
      apply: 'build',
      // The workers are bundled before the main chunks are generated, so every package is known here.
      generateBundle(_, bundle) {
        record(bundle);
        // Nested copies of one version are listed once.
        const packages = new Map<string, { name: string; version: string; license: string; dir: string }>();
        for (const dir of dirs) {
          const { name, version, license } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
          packages.set(`${name}@${version}`, { name, version, license, dir });
        }
        const sections = [...packages.values()]
          .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version))
          .map((p) => `${p.name} ${p.version}\nLicence: ${p.license}\n\n${licenceText(p.name, p.dir)}\n`);
        this.emitFile({
          type: 'asset',
          fileName,
          source: `The playground bundle contains code from these ${sections.length} npm packages, under these licences.\n\n${sections.join(`\n${'-'.repeat(78)}\n\n`)}`,
        });
      },
    },
  };
}
