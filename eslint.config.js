// ESLint with typescript-eslint's type-aware rules, run by scripts/test.sh (CI) on the whole
// tree. typescript-eslint needs the TypeScript 6 compiler API (TypeScript 7 ships none yet):
// package.json aliases `typescript` to TypeScript 6 for it, while the build and the type
// check use TypeScript 7 (`@typescript/native`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', 'src/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's test()/describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none' }],
      // Off on purpose: an `async` function without `await` is how an implementation of a
      // promise-returning interface (a service method, a fake in a test) turns a synchronous
      // throw into a rejection, the one error path its callers handle.
      '@typescript-eslint/require-await': 'off',
      // A `let` that closures read before the one assignment (services that need each other).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Passing on a caught or abort reason as it is (type unknown/any) is right: wrapping it
      // would hide the original error from callers that test its class.
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
    },
  },
  {
    // The tests and benchmarks read CRI responses, OCI specs and files on disk as untyped
    // objects (`any`, each use marked, by design: the assertions are the type check there; a gRPC error's
    // numeric code is compared with the Code enum; fs functions are passed around unbound).
    // The daemon's own code keeps every one of these rules.
    files: ['test/**', 'bench/**', 'src/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
