/**
 * The lint rule that keeps workflows deterministic: workflow code may not import Node built-ins,
 * the warehouse or activities' implementations (activities only as types).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ESLint } from 'eslint';
import { PROJECT_ROOT } from '../../config.ts';

const eslint = new ESLint({ cwd: PROJECT_ROOT });
const file = path.join(PROJECT_ROOT, 'workflows', 'example.ts');

async function messages(code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: file });
  return (result?.messages ?? []).filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message);
}

test('workflows may not import Node built-ins, the warehouse, or activity implementations', async () => {
  assert.match((await messages(`import fs from 'node:fs';\nexport const x = fs;\n`))[0] ?? '', /deterministic/);
  assert.match((await messages(`import { Db } from '../warehouse/duckdb.ts';\nexport const x = Db;\n`))[0] ?? '', /never touch the warehouse/);
  assert.match((await messages(`import { createActivities } from '../activities/index.ts';\nexport const x = createActivities;\n`))[0] ?? '', /as types only/);
});

test('workflows may import activities as types, and the workflow SDK', async () => {
  assert.deepEqual(await messages(`import type { Activities } from '../activities/index.ts';\nimport { proxyActivities } from '@temporalio/workflow';\nexport const a = proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });\n`), []);
});

test('the workflows in the repository pass the rule', async () => {
  const results = await eslint.lintFiles([path.join(PROJECT_ROOT, 'workflows')]);
  assert.deepEqual(results.flatMap((r) => r.messages.map((m) => `${r.filePath}: ${m.message}`)), []);
});
