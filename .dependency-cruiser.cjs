/**
 * The layers of src/, which imports may only point down:
 *   base (errors, defaults, concurrency, clock, arrays, suggest) <- oci <- fs, http <- content
 *   <- sign, pack <- site, client <- cli
 * `npm test` runs this (test/unit/layers.test.ts); a violation fails the suite.
 */
const layer = (name) => `^src/${name}/`
const BASE = '^src/(errors|defaults|concurrency|clock|arrays|suggest)\\.ts$'

module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'A cycle makes two modules one; split or move what they share.', from: { path: '^src/' }, to: { circular: true } },
    { name: 'base-is-the-bottom', severity: 'error', comment: 'The base files import nothing of ours but errors.', from: { path: BASE }, to: { path: '^src/', pathNot: '^src/errors\\.ts$' } },
    { name: 'oci-is-the-model', severity: 'error', comment: 'oci/ is the pure OCI model: it imports only base.', from: { path: layer('oci') }, to: { path: '^src/', pathNot: [layer('oci'), BASE] } },
    { name: 'fs-and-http-are-helpers', severity: 'error', comment: 'fs/ and http/ import only oci/ and base.', from: { path: '^src/(fs|http)/' }, to: { path: '^src/', pathNot: ['^src/(fs|http|oci)/', BASE] } },
    { name: 'content-is-below-its-users', severity: 'error', comment: 'content/ imports only fs/, http/, oci/ and base.', from: { path: layer('content') }, to: { path: '^src/', pathNot: ['^src/(content|fs|http|oci)/', BASE] } },
    { name: 'sign-is-below-its-users', severity: 'error', comment: 'sign/ (signature formats) imports only fs/, oci/ and base.', from: { path: layer('sign') }, to: { path: '^src/', pathNot: ['^src/(sign|fs|oci)/', BASE] } },
    { name: 'pack-is-below-its-users', severity: 'error', comment: 'pack/ (files as artifacts) imports only content/ and below.', from: { path: layer('pack') }, to: { path: '^src/', pathNot: ['^src/(pack|content|fs|http|oci)/', BASE] } },
    { name: 'publishers-and-consumers-are-peers', severity: 'error', comment: 'site/ and client/ never import each other, nor the CLI.', from: { path: '^src/(site|client)/' }, to: { path: '^src/(site|client|cli)/', pathNot: '^src/$1/' } },
    { name: 'only-the-cli-imports-the-cli', severity: 'error', from: { path: '^src/', pathNot: ['^src/cli/', '^src/bin\\.ts$'] }, to: { path: '^src/cli/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
}
