// The Observable Framework project of Rewind's dashboards. It is built per user by `rewind build`
// (warehouse/dashboards.ts buildSite), which runs Framework with tsx and the user in the
// environment: loadConfig() gives the user, the data folder and the output folder. The build
// folder's rewind-site.json (written by buildSite) gives the years with data, one Year in review
// page each; without it (Framework started by hand) they are read from the warehouse. Built outside
// `rewind build` (no user), the site has no Year in review pages and its loaders refuse to run.
import { readFileSync } from "node:fs";
import { loadConfig } from "../config.ts";

const config = loadConfig();
const userId = config.site.userId;
const years = userId ? await siteYears(userId) : [];

async function siteYears(user) {
  try {
    const settings = JSON.parse(readFileSync("rewind-site.json", "utf8"));
    if (settings.userId === user && Array.isArray(settings.years)) return settings.years;
  } catch {
    // not built by buildSite: ask the warehouse
  }
  const { Layout } = await import("../warehouse/layout.ts");
  const dashboards = await import("../warehouse/dashboards.ts");
  const layout = new Layout(config.home);
  return dashboards.siteYears(layout, dashboards.datasetOptions(config, layout), user);
}

export default {
  root: "src",
  output: config.site.outputDir ?? "dist",
  title: "Rewind",
  // Light and dark (following the system), the Inputs' styles, and Rewind's own; no web fonts.
  style: "style.css",
  globalStylesheets: [],
  preserveExtension: true, // links end in .html: any static server (the API's) serves them as they are
  search: false,
  toc: false,
  pager: false,
  pages: [
    { name: "Overview", path: "/index" },
    { name: "Top", path: "/top" },
    { name: "Listening clock", path: "/clock" },
    { name: "Habits", path: "/habits" },
    { name: "Discovery", path: "/discovery" },
    {
      name: "Year in review",
      open: true,
      pages: [{ name: "All years", path: "/years/index" }, ...years.toReversed().map((y) => ({ name: y, path: `/years/${y}` }))],
    },
    { name: "Podcasts", path: "/podcasts" },
    { name: "Data health", path: "/health" },
  ],
  dynamicPaths: years.map((y) => `/years/${y}`),
  // Data loaders are TypeScript run with tsx (from node_modules, not PATH).
  interpreters: { ".ts": [process.execPath, "--import", import.meta.resolve("tsx")] },
  // No favicon request (a 404 in the console), no indexing.
  head: `<link rel="icon" href="data:,"><meta name="color-scheme" content="light dark"><meta name="robots" content="noindex">`,
  footer: userId ? `Rewind · the listening history of ${escapeHtml(userId)}` : "Rewind",
};

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
