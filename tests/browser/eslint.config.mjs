// ESLint over the widget (lambda/assets, served to browsers) and its browser tests.
// make lint runs it from the repository's root: `eslint -c tests/browser/eslint.config.mjs`.
import js from '@eslint/js';
import wc from 'eslint-plugin-wc';
import globals from 'globals';

export default [
  { ignores: ['**/node_modules/**'] },
  js.configs.recommended,
  {
    files: ['lambda/assets/**/*.js'],
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: globals.browser },
    plugins: { wc },
    rules: {
      ...wc.configs['best-practice'].rules,
      'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }],
      'no-throw-literal': 'error',
      'prefer-promise-reject-errors': 'error',
    },
  },
  {
    files: ['tests/browser/**/*.mjs'],
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: { ...globals.node, ...globals.browser } },
    rules: { 'max-len': ['error', { code: 120, ignoreUrls: true }] },
  },
];
