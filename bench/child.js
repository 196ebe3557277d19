// Runs bench/import.ts as its own process the way bin/rewind.js runs the CLI: tsx registered from
// here, not with `node --import tsx`, which every worker thread (Temporal's workflow thread among
// them) would inherit and load again, slowing the in-process worker's start by a tenth of a second.
import { register } from 'tsx/esm/api';

register();
await import('./import.ts');
