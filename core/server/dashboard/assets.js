// The dashboard's files as text, for the server (core/server/dashboard.ts) to serve. Bun's text
// imports put them inside the compiled binary (`bun build --compile`), so the dashboard needs no
// files beside it, no CDN and no build step at run time. Plain JS (with assets.d.ts beside it):
// TypeScript has no types for text imports of .js and .css files.
//
// The paths here and in dashboard.ts's SOURCES must agree (a test checks).
import indexHtml from "./index.html" with { type: "text" };
import appJs from "./app.js" with { type: "text" };
import styleCss from "./style.css" with { type: "text" };
import preactJs from "../../../node_modules/preact/dist/preact.mjs" with { type: "text" };
import hooksJs from "../../../node_modules/preact/hooks/dist/hooks.mjs" with { type: "text" };
import htmJs from "../../../node_modules/htm/dist/htm.module.js" with { type: "text" };
import uplotJs from "../../../node_modules/uplot/dist/uPlot.esm.js" with { type: "text" };
import uplotCss from "../../../node_modules/uplot/dist/uPlot.min.css" with { type: "text" };

export const embedded = {
  "index.html": indexHtml,
  "app.js": appJs,
  "style.css": styleCss,
  "vendor/preact.mjs": preactJs,
  "vendor/hooks.mjs": hooksJs,
  "vendor/htm.mjs": htmJs,
  "vendor/uplot.mjs": uplotJs,
  "vendor/uplot.css": uplotCss,
};
