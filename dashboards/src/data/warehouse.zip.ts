// Produces warehouse.zip: one Arrow IPC file per dataset (DATASETS in warehouse/dashboards.ts) of the
// user the site is being built for. Pages read its members: FileAttachment("data/warehouse/days.arrow").
import { writeSiteArchive } from '../../../warehouse/dashboards.ts';

await writeSiteArchive();
