/**
 * Folders and loose files: what the given paths are (and refusing mixes), symbolic links and
 * special files never followed or read, entry names that would leave the folder, limits, and
 * content errors in loose files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ExportInputError, extractEntry, hashExport, inspectExport } from '../../../activities/export/archive.ts';
import { LIMITS, REAL_ACCOUNT, REAL_EXTENDED, limits, rejectsInput, snapshot, tempDir, writeZip } from './helpers.ts';

const REAL_AUDIO = path.join(REAL_EXTENDED, 'mungeraiden_QuantifiedSelfProject/Streaming_History_Audio_2022.json');
const REAL_PODCAST = path.join(REAL_ACCOUNT, 'mungeraiden_QuantifiedSelfProject/StreamingHistory_podcast_0.json');

let root: string;
before(async () => {
  root = await tempDir();
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('symbolic links and special files in a folder', () => {
  let dir: string;
  let outside: string;
  before(async () => {
    outside = path.join(root, 'outside');
    await fs.mkdir(path.join(outside, 'secret-dir'), { recursive: true });
    await fs.writeFile(path.join(outside, 'secret.json'), '[{"ts":"2099-01-01T00:00:00Z","ms_played":1}]');
    await fs.writeFile(path.join(outside, 'secret-dir', 'Streaming_History_Audio_2099.json'), '[{"ts":"2099-01-01T00:00:00Z","ms_played":1}]');
    dir = path.join(root, 'export');
    await fs.mkdir(path.join(dir, 'Spotify Extended Streaming History'), { recursive: true });
    await fs.copyFile(REAL_AUDIO, path.join(dir, 'Spotify Extended Streaming History', 'Streaming_History_Audio_2022.json'));
    // links out of the folder, named like history files and folders
    await fs.symlink(path.join(outside, 'secret.json'), path.join(dir, 'Spotify Extended Streaming History', 'Streaming_History_Audio_2099.json'));
    await fs.symlink(path.join(outside, 'secret-dir'), path.join(dir, 'Spotify Account Data'));
    // a link inside the folder is not followed either
    await fs.symlink('Streaming_History_Audio_2022.json', path.join(dir, 'Spotify Extended Streaming History', 'endsong_0.json'));
    if (process.platform !== 'win32') {
      const r = spawnSync('mkfifo', [path.join(dir, 'StreamingHistory_music_0.json')]);
      assert.equal(r.status, 0, 'mkfifo');
    }
  });

  test('links and FIFOs are listed as ignored and never read', async () => {
    const inv = await inspectExport([dir], LIMITS);
    assert.deepEqual(inv.history, [
      { name: 'Spotify Extended Streaming History/Streaming_History_Audio_2022.json', size: (await fs.stat(REAL_AUDIO)).size, format: 'extended' },
    ]);
    assert.deepEqual(inv.ignored, [
      ...(process.platform !== 'win32' ? ['StreamingHistory_music_0.json'] : []),
      'Spotify Account Data',
      'Spotify Extended Streaming History/Streaming_History_Audio_2099.json',
      'Spotify Extended Streaming History/endsong_0.json',
    ].sort());
  });

  test('the hash does not depend on links', async () => {
    const h = await hashExport([dir]);
    await fs.writeFile(path.join(outside, 'secret.json'), '[]');
    assert.equal(await hashExport([dir]), h);
  });

  test('extractEntry refuses links, names that leave the folder, and non-files', async () => {
    const dest = path.join(root, 'dest.json');
    const before = await snapshot(root);
    await rejectsInput(extractEntry([dir], 'Spotify Extended Streaming History/Streaming_History_Audio_2099.json', dest, LIMITS), {
      entry: 'Spotify Extended Streaming History/Streaming_History_Audio_2099.json',
      reason: 'symbolic link, not followed',
      input: dir,
    });
    await rejectsInput(extractEntry([dir], 'Spotify Account Data/Streaming_History_Audio_2099.json', dest, LIMITS), {
      entry: 'Spotify Account Data/Streaming_History_Audio_2099.json',
      reason: 'outside the folder',
    });
    await rejectsInput(extractEntry([dir], '../outside/secret.json', dest, LIMITS), { entry: '../outside/secret.json', reason: 'path traversal' });
    await rejectsInput(extractEntry([dir], path.join(outside, 'secret.json'), dest, LIMITS), {
      entry: path.join(outside, 'secret.json'),
      reason: 'absolute path',
    });
    await rejectsInput(extractEntry([dir], 'Spotify Extended Streaming History', dest, LIMITS), {
      entry: 'Spotify Extended Streaming History',
      reason: 'not a regular file',
    });
    await rejectsInput(extractEntry([dir], 'nope.json', dest, LIMITS), { entry: 'nope.json', reason: 'no such file or folder' });
    assert.deepEqual(await snapshot(root), before, 'nothing written');
  });
});

describe('what the paths are', () => {
  let zip: string;
  let json: string;
  let dir: string;
  before(async () => {
    zip = path.join(root, 'kinds', 'export.zip');
    json = path.join(root, 'kinds', 'Streaming_History_Audio_2022.json');
    dir = path.join(root, 'kinds', 'dir');
    await fs.mkdir(dir, { recursive: true });
    await fs.copyFile(REAL_AUDIO, json);
    await fs.copyFile(REAL_AUDIO, path.join(dir, 'Streaming_History_Audio_2022.json'));
    await writeZip(zip, [{ name: 'Streaming_History_Audio_2022.json', path: REAL_AUDIO }]);
  });

  test('one ZIP, one folder, or .json files', async () => {
    assert.equal((await inspectExport([zip], LIMITS)).kind, 'zip');
    assert.equal((await inspectExport([dir], LIMITS)).kind, 'dir');
    assert.equal((await inspectExport([json], LIMITS)).kind, 'files');
    assert.equal((await inspectExport([json, json], LIMITS)).history.length, 1, 'the same file twice counts once');
  });

  test('mixes and other things are refused', async () => {
    await rejectsInput(inspectExport([zip, json], LIMITS), { entry: undefined, reason: 'cannot mix a ZIP with other inputs', input: zip });
    await rejectsInput(inspectExport([json, dir], LIMITS), { entry: undefined, reason: 'cannot mix a folder with other inputs', input: dir });
    await rejectsInput(inspectExport([dir, dir], LIMITS), { entry: undefined, reason: 'cannot mix a folder' });
    await rejectsInput(inspectExport([zip, zip], LIMITS), { entry: undefined, reason: 'cannot mix a ZIP' });
    await rejectsInput(inspectExport([], LIMITS), { entry: undefined, reason: 'nothing given' });
    await rejectsInput(inspectExport([path.join(root, 'missing.zip')], LIMITS), { entry: undefined, reason: 'no such file or folder' });
    const txt = path.join(root, 'kinds', 'notes.txt');
    await fs.writeFile(txt, 'hello');
    await rejectsInput(inspectExport([txt], LIMITS), { entry: undefined, reason: 'not a ZIP archive, a folder or a .json file', input: txt });
    await rejectsInput(hashExport([zip, dir]), { entry: undefined, reason: 'cannot mix' });
  });

  test('two loose files with the same name are refused', async () => {
    const other = path.join(root, 'kinds', 'other');
    await fs.mkdir(other);
    await fs.copyFile(REAL_PODCAST, path.join(other, 'Streaming_History_Audio_2022.json'));
    await rejectsInput(inspectExport([json, path.join(other, 'Streaming_History_Audio_2022.json')], LIMITS), {
      entry: 'Streaming_History_Audio_2022.json',
      reason: 'two files are named',
    });
  });

  test('extractEntry refuses to overwrite its own input', async () => {
    const before = await fs.readFile(json);
    await assert.rejects(extractEntry([json], 'Streaming_History_Audio_2022.json', json, LIMITS), (err: Error) => {
      assert.ok(!(err instanceof ExportInputError));
      return /is the input file itself/.test(err.message);
    });
    assert.ok((await fs.readFile(json)).equals(before));
    await assert.rejects(extractEntry([zip], 'Streaming_History_Audio_2022.json', zip, LIMITS), /is the input file itself/);
    assert.equal((await inspectExport([zip], LIMITS)).history.length, 1, 'the ZIP is intact');
  });

  test('a dest that cannot be written rejects with the file-system error, not an input error', async () => {
    const dest = path.join(root, 'no-such-folder', 'x.json');
    await assert.rejects(extractEntry([zip], 'Streaming_History_Audio_2022.json', dest, LIMITS), (err: NodeJS.ErrnoException) => {
      assert.ok(!(err instanceof ExportInputError));
      return err.code === 'ENOENT';
    });
  });

  test('an exception from onBytes is passed through and the dest removed', async () => {
    const dest = path.join(root, 'kinds', 'progress.json');
    const boom = new Error('progress display broke');
    await assert.rejects(
      extractEntry([zip], 'Streaming_History_Audio_2022.json', dest, LIMITS, () => {
        throw boom;
      }),
      (err) => err === boom,
    );
    await assert.rejects(fs.access(dest));
  });
});

describe('loose files and folders with bad content or over the limits', () => {
  test('a loose history-named file that is not JSON names the file', async () => {
    const f = path.join(root, 'bad', 'StreamingHistory_podcast_0.json');
    await fs.mkdir(path.dirname(f), { recursive: true });
    await fs.writeFile(f, '<html>oops</html>');
    await rejectsInput(inspectExport([f], LIMITS), { entry: 'StreamingHistory_podcast_0.json', reason: 'not JSON', input: f });
  });

  test('a history-named file of the wrong shape in a folder', async () => {
    const d = path.join(root, 'bad-dir');
    await fs.mkdir(path.join(d, 'MyData'), { recursive: true });
    await fs.copyFile(REAL_PODCAST, path.join(d, 'MyData', 'endsong_0.json'));
    await rejectsInput(inspectExport([d], LIMITS), { entry: 'MyData/endsong_0.json', reason: 'first stream lacks "ts", "ms_played"', input: d });
  });

  test('a folder without history', async () => {
    const d = path.join(root, 'nothing');
    await fs.mkdir(d);
    await fs.writeFile(path.join(d, 'Userdata.json'), '{}');
    await rejectsInput(inspectExport([d], LIMITS), { entry: undefined, reason: 'no streaming history found', input: d });
    const empty = path.join(root, 'empty-dir');
    await fs.mkdir(empty);
    await rejectsInput(inspectExport([empty], LIMITS), { entry: undefined, reason: 'no streaming history found' });
  });

  test('limits apply to folders: file size, total, number of files', async () => {
    const d = path.join(root, 'limits');
    await fs.mkdir(d);
    await fs.copyFile(REAL_AUDIO, path.join(d, 'Streaming_History_Audio_2022.json'));
    await fs.copyFile(REAL_PODCAST, path.join(d, 'StreamingHistory_podcast_0.json'));
    const audio = (await fs.stat(REAL_AUDIO)).size;
    await rejectsInput(inspectExport([d], limits({ maxEntryBytes: audio - 1 })), { entry: 'Streaming_History_Audio_2022.json', reason: 'file too large' });
    // files are taken in name order: the podcast file first, then the audio file crosses the total
    await rejectsInput(inspectExport([d], limits({ maxTotalBytes: audio + 10 })), { entry: 'Streaming_History_Audio_2022.json', reason: 'export too large' });
    await rejectsInput(inspectExport([d], limits({ maxEntries: 1 })), { entry: undefined, reason: 'too many files' });
    const dest = path.join(root, 'limited.json');
    await rejectsInput(extractEntry([d], 'Streaming_History_Audio_2022.json', dest, limits({ maxEntryBytes: 1000 })), {
      entry: 'Streaming_History_Audio_2022.json',
      reason: 'file too large: more than 1000 bytes',
    });
    await assert.rejects(fs.access(dest));
  });
});
