/**
 * docker-compose.yml cannot be run here (no Docker engine), so this checks what can be checked:
 * it parses, it has the production services, and every Rewind service runs an entry point and a
 * CLI command that exist.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../config.ts';

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: unknown;
}

const compose = parse(readFileSync(path.join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};

test('docker-compose.yml describes Temporal on PostgreSQL, its UI, and the worker with the warehouse on a volume', () => {
  const s = compose.services;
  assert.match(s.postgresql?.image ?? '', /^postgres:/);
  assert.match(s.temporal?.image ?? '', /^temporalio\/auto-setup:/);
  assert.equal(s.temporal?.environment?.DB, 'postgres12');
  assert.equal(s.temporal?.environment?.POSTGRES_SEEDS, 'postgresql');
  assert.match(s['temporal-ui']?.image ?? '', /^temporalio\/ui:/);
  assert.equal(s['temporal-ui']?.environment?.TEMPORAL_ADDRESS, 'temporal:7233');
  const worker = s.worker!;
  assert.equal(worker.environment?.TEMPORAL_ADDRESS, 'temporal:7233');
  const home = worker.environment?.REWIND_HOME;
  assert.ok(home && worker.volumes?.some((v) => v.startsWith('warehouse:') && v.endsWith(`:${home}`)), 'the data folder is a volume');
  assert.ok('warehouse' in compose.volumes);
});

test('every service built from this project points at an entry point and a command that exist', () => {
  const cli = readFileSync(path.join(PROJECT_ROOT, 'cli/main.ts'), 'utf8');
  const built = Object.entries(compose.services).filter(([, svc]) => svc.build);
  assert.ok(built.length > 0);
  assert.ok(existsSync(path.join(PROJECT_ROOT, 'Dockerfile')));
  for (const [name, svc] of built) {
    const [node, entry, command] = svc.command ?? [];
    assert.equal(node, 'node', name);
    assert.ok(entry && existsSync(path.join(PROJECT_ROOT, entry)), `${name}: ${entry} exists`);
    assert.ok(command && cli.includes(`.command('${command}')`), `${name}: "rewind ${command}" is a CLI command`);
  }
});
